"""`ionic-assets warehouse copy --from A --to B`: one warehouse's tables and views into another
(`lib/warehouse_copy.py`). Errors go through the CLI's one boundary (`commands.main`)."""

from __future__ import annotations

import argparse

from ionic_assets.lib.warehouse_copy import backend_of, copy_warehouse


def cmd_copy(args: argparse.Namespace) -> int:
    source, target = backend_of(args.source), backend_of(args.target)
    for table, n in copy_warehouse(source, target).items():
        print(f"{table}: {n} rows")
    print(f"copied {source.describe()} -> {target.describe()}")
    return 0


def add_parser(sub) -> None:
    """The `warehouse` command on the CLI's subparsers `sub`."""
    warehouse = sub.add_parser("warehouse", help="move data between warehouses")
    action = warehouse.add_subparsers(dest="action", required=True)
    copy = action.add_parser("copy", help="copy every table of one warehouse into another")
    copy.add_argument("--from", dest="source", required=True, help="duckdb, ducklake or X.duckdb")
    copy.add_argument("--to", dest="target", required=True, help="duckdb, ducklake or X.duckdb")
    copy.set_defaults(func=cmd_copy)

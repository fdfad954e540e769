"""One warehouse's tables and views into another (`ionic-assets warehouse copy`, cli/warehouse.py).

For a user who started on a laptop and moves to the cluster (`--from duckdb --to ducklake`), or
pulls the cluster's results down to look at them in DuckDB (`--from ducklake --to cluster.duckdb`).
A warehouse is named `duckdb` or `ducklake` (the configured one of that kind, `lib.settings`) or
by the path of a `.duckdb` file. Each table of the source replaces the target's table of that
name, column types kept, all in one transaction; tables only the target has are left alone.
"""

from __future__ import annotations

from pathlib import Path

from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.lib.warehouse_backends import (
    BACKENDS,
    Backend,
    EmbeddedFile,
    WarehouseUnavailable,
    backend_from,
    transaction,
)


def backend_of(name: str) -> Backend:
    """`duckdb`, `ducklake` (as configured) or a `.duckdb` file path."""
    if name in BACKENDS:
        return backend_from(name, ArtifactStore.from_env())
    if name.endswith(".duckdb"):
        return EmbeddedFile(Path(name).resolve())
    raise WarehouseUnavailable(f"warehouse {name!r}: one of duckdb, ducklake or a .duckdb file")


def _objects(conn, database: str) -> tuple[list[str], list[str]]:
    """Table names and view definitions (SQL) of the attached `database`."""
    tables = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name",
        [database],
    ).fetchall()
    views = conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
        "ORDER BY view_name",
        [database],
    ).fetchall()
    return [t for (t,) in tables], [v for (v,) in views]


def copy_warehouse(source: Backend, target: Backend) -> dict[str, int]:
    """Copy every table and view of `source` into `target`; returns rows copied per table."""
    if source == target:
        raise WarehouseUnavailable(f"{source.describe()}: source and target are the same")
    with target.connect() as conn:
        if not source.attach(conn, "source", read_only=True):
            raise WarehouseUnavailable(f"{source.describe()}: no warehouse there to copy")
        try:
            tables, views = _objects(conn, "source")

            def copy(conn) -> dict[str, int]:
                for table in tables:
                    conn.execute(
                        f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM source.main."{table}"'
                    )
                for sql in views:
                    conn.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
                count = 'SELECT count(*) FROM "{}"'
                return {t: conn.execute(count.format(t)).fetchone()[0] for t in tables}

            return transaction(conn, copy)
        finally:
            conn.execute("DETACH source")

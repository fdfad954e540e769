"""`ionic-assets`: run the benchmark graph in-process, manage partitions, analyse a trajectory.

Runs are recorded in the Dagster instance at DAGSTER_HOME (default: IONIC_ASSETS_HOME/dagster),
so `dagster dev` on the same DAGSTER_HOME shows what the command did.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ionic_assets.lib import settings, warehouse_copy
from ionic_assets.science.errors import InputError, NotEstimable


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _instance():
    import dagster as dg

    if "DAGSTER_HOME" not in os.environ:
        os.environ["DAGSTER_HOME"] = str(settings.home_dir() / "dagster")
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # may be a read-only ConfigMap in a pod
        (home / "dagster.yaml").touch()  # empty: Dagster's default SQLite storage
    return dg.DagsterInstance.get()


def cmd_run(args: argparse.Namespace) -> int:
    from ionic_assets.lib.runner import BenchmarkRun

    if args.protocol:
        os.environ["IONIC_ASSETS_PROTOCOL"] = args.protocol
    run = BenchmarkRun(
        instance=_instance(),
        materials=_csv(args.materials) if args.materials else None,
        temperatures=_csv(args.temperatures) if args.temperatures else None,
        methods=_csv(args.methods) if args.methods else None,
        protocol=args.protocol,
    )
    failures = run.execute(report=print)
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_partitions(args: argparse.Namespace) -> int:
    from ionic_assets.defs.materials.partitions import (
        add_partition_keys,
        material_partitions,
        temperature_partitions,
    )
    from ionic_assets.science import obelix

    instance = _instance()
    if args.action == "add":
        if args.dimension == "material":
            obelix.select_entries(obelix.load_table(settings.obelix_dir()), args.keys)
            added = add_partition_keys(instance, materials=args.keys)
        else:
            added = add_partition_keys(instance, temperatures=args.keys)
        print(f"added: {added}")
    for definition in (material_partitions, temperature_partitions):
        keys = instance.get_dynamic_partitions(definition.name)
        print(f"{definition.name}: {', '.join(keys) or '(none)'}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from ionic_assets.science.diffusion import named_settings
    from ionic_assets.science.trajectory_import import load_trajectory
    from ionic_assets.science.transport import analyze_transport

    trajectory = load_trajectory(
        args.trajectory,
        fmt=args.format,
        temperature_K=args.temperature_K,
        timestep_fs=args.timestep_fs,
        frame_stride=args.frame_stride,
    )
    transport = analyze_transport(
        trajectory,
        equilibration_ps=args.equilibration_ps,
        fit_start_ps=args.fit_start_ps,
        settings=named_settings(args.settings),
        **({} if args.msd_threshold_A2 is None else {"msd_threshold_A2": args.msd_threshold_A2}),
    )
    print(json.dumps({"trajectory": str(args.trajectory), **transport.summary()}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionic-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize the graph in-process for a selection")
    run.add_argument("--materials", help="OBELiX IDs, comma-separated (default: all registered)")
    run.add_argument("--temperatures", help="kelvin, comma-separated (default: all registered)")
    run.add_argument("--methods", help="method names from config/methods.yaml (default: all)")
    run.add_argument("--protocol", help="MD protocol name (default: paper)")
    run.set_defaults(func=cmd_run)

    parts = sub.add_parser("partitions", help="list or add material / temperature keys")
    parts.add_argument("action", choices=["list", "add"])
    parts.add_argument("dimension", nargs="?", choices=["material", "temperature"])
    parts.add_argument("keys", nargs="*", help="OBELiX IDs or temperatures in kelvin")
    parts.set_defaults(func=cmd_partitions)
    analyze = sub.add_parser("analyze", help="D, its 95%% interval and sigma of one trajectory")
    analyze.add_argument("trajectory", help="platform .h5, extxyz, ASE .traj, XDATCAR, vasprun.xml")
    analyze.add_argument("--format", help="file format when the suffix does not tell")
    analyze.add_argument("--temperature-K", type=float, help="when the file does not record it")
    analyze.add_argument("--timestep-fs", type=float, help="MD time step, when the file lacks it")
    analyze.add_argument("--frame-stride", type=int, help="MD steps between stored frames")
    analyze.add_argument("--equilibration-ps", type=float, default=5.0, help="discarded (5 ps)")
    analyze.add_argument("--fit-start-ps", type=float, help="MSD fit start (settings' default)")
    analyze.add_argument("--settings", default="default", help="kinisi settings: default, paper")
    analyze.add_argument(
        "--msd-threshold-A2",
        type=float,
        help="Li MSD reliability threshold, Å² (default: transport.MSD_THRESHOLD_A2)",
    )
    analyze.set_defaults(func=cmd_analyze)
    warehouse_copy.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "partitions" and args.action == "add" and not (args.dimension and args.keys):
        print("error: partitions add needs a dimension and at least one key", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (InputError, NotEstimable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

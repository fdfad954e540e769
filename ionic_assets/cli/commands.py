"""`ionic-assets`: run the benchmark graph in-process, manage partitions, analyse a trajectory.

Runs are recorded in the Dagster instance at DAGSTER_HOME (default: IONIC_ASSETS_HOME/dagster),
so `dagster dev` on the same DAGSTER_HOME shows what the command did. The terminal gets one line
per stage and partition, MD progress, science warnings once and a summary; Dagster's event log
and third-party output go to the run's log (and the terminal too with --verbose).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ionic_assets.cli import warehouse
from ionic_assets.lib import settings
from ionic_assets.lib.failures import USER_ERRORS, one_line


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


NEW_INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def _instance():
    import dagster as dg

    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # may be a read-only ConfigMap in a pod
        # Dagster's default SQLite storage; no telemetry, whose upload (by `dagster dev` on this
        # instance) would reach telemetry.dagster.io: the platform runs where that is not allowed.
        (home / "dagster.yaml").write_text(NEW_INSTANCE_YAML)
    return dg.DagsterInstance.from_config(str(home))


@contextlib.contextmanager
def _terminal(command: str, verbose: bool) -> Iterator[tuple[TextIO, TextIO, Path | None]]:
    """(stdout, stderr, log file) for the command's own lines. Unless `verbose`, everything else
    written to sys.stdout/sys.stderr meanwhile (Dagster's console, the telemetry banner, Python
    warnings of pymatgen or CHGNet) goes to a log file under DAGSTER_HOME/logs instead."""
    out, err = sys.stdout, sys.stderr
    if verbose:
        yield out, err, None
        return
    logs = settings.dagster_home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{command}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    with (
        path.open("a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        yield out, err, path


def summary_table(outcomes) -> list[str]:
    """Per stage (asset): partitions done, failed, skipped and wall time, as aligned lines."""
    rows: dict[str, list] = {}
    for o in outcomes:
        row = rows.setdefault(o.asset, [0, 0, 0, 0.0])
        row[("done", "failed", "skipped").index(o.status)] += 1
        row[3] += o.wall_time_s
    width = max([len("stage"), *map(len, rows)])
    lines = [f"{'stage':<{width}}  {'done':>4}  {'failed':>6}  {'skipped':>7}  {'wall time':>9}"]
    for asset, (done, failed, skipped, wall) in rows.items():
        lines.append(f"{asset:<{width}}  {done:>4}  {failed:>6}  {skipped:>7}  {wall:>7.1f} s")
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from ionic_assets.cli.runner import BenchmarkRun

    with _terminal("run", args.verbose) as (out, err, log), _instance() as instance:
        run = BenchmarkRun(
            instance=instance,
            materials=_csv(args.materials) if args.materials else None,
            temperatures=_csv(args.temperatures) if args.temperatures else None,
            methods=_csv(args.methods) if args.methods else None,
            protocol=args.protocol,
            verbose=args.verbose,
        )

        def report(line: str) -> None:
            stream = err if line.startswith(("error: ", "warning: ")) else out
            print(line, file=stream, flush=True)

        failures = run.execute(report=report)
        print("", *summary_table(run.outcomes), sep="\n", file=out)
        if log:
            print(f"log: {log}", file=out)
    return 1 if failures else 0


def cmd_partitions(args: argparse.Namespace) -> int:
    from ionic_assets.defs.materials.partitions import (
        add_partition_keys,
        material_partitions,
        temperature_partitions,
    )
    from ionic_assets.science import obelix

    with _terminal("partitions", args.verbose) as (out, _, _log), _instance() as instance:
        if args.action == "add":
            if args.dimension == "material":
                obelix.select_entries(
                    obelix.load_table(settings.OBELIX_DATA_DIR.value()), args.keys
                )
                added = add_partition_keys(instance, materials=args.keys)
            else:
                added = add_partition_keys(instance, temperatures=args.keys)
            print(f"added: {added}", file=out)
        for definition in (material_partitions, temperature_partitions):
            keys = instance.get_dynamic_partitions(definition.name)
            print(f"{definition.name}: {', '.join(keys) or '(none)'}", file=out)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from ionic_assets.science.diffusion import named_settings
    from ionic_assets.science.trajectory_import import load_trajectory
    from ionic_assets.science.transport import analyze_transport

    with _terminal("analyze", args.verbose) as (out, _, _log):
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
            **(
                {} if args.msd_threshold_A2 is None else {"msd_threshold_A2": args.msd_threshold_A2}
            ),
        )
        summary = {"trajectory": str(args.trajectory), **transport.summary()}
        print(json.dumps(summary, indent=2), file=out)
    return 0


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line `error: <item>: <cause>` and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ionic-assets", description=__doc__)
    parser.add_argument(
        "--verbose", action="store_true", help="also show Dagster's log and third-party output"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize the graph in-process for a selection")
    run.add_argument("--materials", help="OBELiX IDs, comma-separated (default: all registered)")
    run.add_argument("--temperatures", help="kelvin, comma-separated (default: all registered)")
    run.add_argument("--methods", help="method names from config/methods.yaml (default: all)")
    run.add_argument("--protocol", help="MD protocol name (default: IONIC_ASSETS_PROTOCOL)")
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
    warehouse.add_parser(sub)
    for command in (run, parts, analyze):
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The one place that tells a user's mistake from a bug (`lib.failures.USER_ERRORS`): the
    first is `error: <item>: <cause>` and exit status 2; a bug keeps its traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "partitions" and args.action == "add" and not (args.dimension and args.keys):
        parser.error("partitions add: needs a dimension and at least one key")
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2

"""What the MD temperature guard says of an ordered cell with and without relaxation (issue 23).

Runs the main command, `ionic-assets run --methods <method> --protocol <protocol> --materials
<material> --temperatures <T>`, once with the unrelaxed protocol (`smoke`) and once with its
relaxed twin (`smoke-relaxed`), each in a fresh temporary home (IONIC_ASSETS_HOME, DAGSTER_HOME),
and records per run: the command's exit status and failure lines (a tripped guard's one line),
the md_trajectories row's mean_temperature_K and stop_reason when one was stored, and the
relaxed_cells row (mode, converged, steps, volume change, largest Li displacement).

    OBELIX_DATA_DIR=../shared/obelix OMP_NUM_THREADS=1 nice -n 10 \
        python -m ionic_assets.benchmarks.relaxation_guard --materials kbq --temperatures 1200

Writes relaxation_guard.json and relaxation_guard.md in `--out`, anew after each run (a killed
benchmark keeps the runs done).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from ionic_assets.lib.storage import ArtifactStore
from ionic_assets.science.protocols import relaxed_twin

MD_COLUMNS = ("material_id", "temperature_K", "n_atoms", "mean_temperature_K", "stop_reason",
              "simulated_ps", "engine")  # fmt: skip
RELAX_COLUMNS = ("material_id", "mode", "converged", "n_steps", "volume_change_frac",
                 "max_li_displacement_A", "energy_drop_eV_per_atom", "engine",
                 "wall_time_s")  # fmt: skip


def cli_args(method: str, protocol: str, materials: str, temperatures: str) -> list[str]:
    return ["run", "--methods", method, "--protocol", protocol, "--materials", materials,
            "--temperatures", temperatures]  # fmt: skip


def run_once(args: list[str]) -> dict:
    """One run of the main command in a fresh home: its status, output and stored rows."""
    with tempfile.TemporaryDirectory(prefix="relaxation-guard-") as home:
        env = {**os.environ, "IONIC_ASSETS_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "ionic_assets.cli", *args],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall_s = time.perf_counter() - start
        output = done.stdout + done.stderr
        return {
            "command": "ionic-assets " + " ".join(args),
            "exit_status": done.returncode,
            "wall_time_s": wall_s,
            "failures": error_lines(output),
            "md_trajectories": _rows(Path(home), "md_trajectories", MD_COLUMNS),
            "relaxed_cells": _rows(Path(home), "relaxed_cells", RELAX_COLUMNS),
            "output_tail": output[-4000:],
        }


def error_lines(output: str) -> list[str]:
    """The command's failure lines (`error: <asset> <partition>: <cause>`, a guard's included)."""
    return [line for line in output.splitlines() if line.startswith("error:")]


def _rows(home: Path, table: str, columns) -> list[dict]:
    path = home / "ionic.duckdb"
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as conn:
        if not conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()[0]:
            return []
        frame = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").df()
    return json.loads(frame.to_json(orient="records"))


def markdown(runs: list[dict], meta: dict) -> str:
    lines = [
        "# The temperature guard on an ordered cell, with and without relaxation",
        "",
        f"Benchmark: `{meta['command']}` (`ionic_assets/benchmarks/relaxation_guard.py`); "
        f"{meta['note']}",
        "",
        "| command | exit | wall (s) | relaxation | mean T (K) | stop reason | guard / failure |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        relax = ", ".join(
            f"{r['mode']}, converged {r['converged']}, {r['n_steps']} steps, "
            f"dV/V {100 * r['volume_change_frac']:+.2f} %, max Li disp "
            f"{r['max_li_displacement_A']:.2f} Å"
            for r in run["relaxed_cells"]
        )
        md = run["md_trajectories"]
        mean_T = ", ".join(f"{r['mean_temperature_K']:.0f}" for r in md) or "-"
        stop = ", ".join(str(r["stop_reason"]) for r in md) or "-"
        failures = "<br>".join(f.replace("|", "\\|") for f in run["failures"]) or "none"
        lines.append(f"| `{run['command']}` | {run['exit_status']} | {run['wall_time_s']:.0f} | "
                     f"{relax or '-'} | {mean_T} | {stop} | {failures} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="chgnet")
    parser.add_argument("--protocol", default="smoke", help="the unrelaxed protocol")
    parser.add_argument("--materials", default="kbq", help="comma-separated")
    parser.add_argument("--temperatures", default="1200", help="kelvin, comma-separated")
    parser.add_argument("--note", default="", help="a sentence on the setting, for the report")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    meta = {
        "command": "python -m ionic_assets.benchmarks.relaxation_guard "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "note": args.note,
    }
    store = ArtifactStore(args.out)  # writes each file in one piece
    runs = []
    for protocol in (args.protocol, relaxed_twin(args.protocol)):
        cli = cli_args(args.method, protocol, args.materials, args.temperatures)
        print(f"[relaxation_guard] ionic-assets {' '.join(cli)}", flush=True)
        runs.append(run_once(cli))
        report = json.dumps({"meta": meta, "runs": runs}, indent=1, default=str)
        store.write_bytes("relaxation_guard.json", report.encode())
        store.write_bytes("relaxation_guard.md", markdown(runs, meta).encode())
    print(markdown(runs, meta))


if __name__ == "__main__":
    main()

"""Known-D benchmark: does `estimate_diffusion` recover D from Brownian trajectories?

Li atoms move as independent Gaussian random walks of known D (cm^2/s) in a periodic box, with
immobile framework atoms; positions are unwrapped. For each settings case and seed we record the
estimate's relative error, whether its 95% credible interval contains the true D, and the wall
time of one estimate with numerical libraries limited to one thread (one CPU core).

    python -m ionic_assets.benchmarks.known_d                 # one paper-settings seed
    python -m ionic_assets.benchmarks.known_d --paper-seeds 8  # the recorded run

Writes data/benchmarks/known_d.json (every estimate) and data/benchmarks/known_d.md (summary).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import kinisi
import numpy as np
from threadpoolctl import threadpool_limits

from ionic_assets.science.diffusion import (
    DEFAULT_SETTINGS,
    PAPER_SETTINGS,
    DiffusionSettings,
    estimate_diffusion,
)
from ionic_assets.science.synthetic import RUN_PS, TRUE_D_CM2_S, brownian_trajectory


@dataclass(frozen=True)
class Case:
    label: str
    settings: DiffusionSettings
    n_frames: int
    n_seeds: int


def run_case(case: Case, n_li: int) -> list[dict]:
    """One estimate per seed, timed (CPU and wall) with one thread for numerical libraries."""
    records = []
    for seed in range(case.n_seeds):
        traj = brownian_trajectory(
            seed=seed, n_frames=case.n_frames, n_li=n_li, frame_interval_ps=RUN_PS / case.n_frames
        )
        with threadpool_limits(1):
            start, start_cpu = time.perf_counter(), time.process_time()
            est = estimate_diffusion(traj, equilibration_ps=0.0, settings=case.settings, seed=seed)
            wall_s, cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
        lo, hi = est.D_ci95_cm2_s
        records.append(
            {
                "case": case.label,
                "seed": seed,
                "n_frames": case.n_frames,
                "n_li": n_li,
                "D_cm2_s": est.D_cm2_s,
                "D_ci95_cm2_s": [lo, hi],
                "relative_error": est.D_cm2_s / TRUE_D_CM2_S - 1,
                "covered": bool(lo <= TRUE_D_CM2_S <= hi),
                "wall_s": wall_s,
                "cpu_s": cpu_s,
            }
        )
        print(f"{case.label} seed {seed}: D/D_true = {est.D_cm2_s / TRUE_D_CM2_S:.3f}, "
              f"95% [{lo / TRUE_D_CM2_S:.3f}, {hi / TRUE_D_CM2_S:.3f}], "
              f"{cpu_s:.1f} s CPU, {wall_s:.1f} s wall",
              flush=True)  # fmt: skip
    return records


def summarize(case: Case, records: list[dict]) -> dict:
    rel = np.array([r["relative_error"] for r in records])
    wall = np.array([r["wall_s"] for r in records])
    cpu = np.array([r["cpu_s"] for r in records])
    return {
        "case": case.label,
        "settings": asdict(case.settings),
        "n_frames": case.n_frames,
        "n_seeds": len(records),
        "mean_relative_error": float(rel.mean()),
        "sd_relative_error": float(rel.std(ddof=1)) if len(rel) > 1 else None,
        "mean_abs_relative_error": float(np.abs(rel).mean()),
        "coverage_95": float(np.mean([r["covered"] for r in records])),
        "mean_wall_s": float(wall.mean()),
        "max_wall_s": float(wall.max()),
        "mean_cpu_s": float(cpu.mean()),
        "max_cpu_s": float(cpu.max()),
    }


def markdown(summaries: list[dict], command: str, n_li: int) -> str:
    rows = [
        "| case | frames | seeds | mean rel. error | sd | mean abs rel. error | 95% coverage "
        "| CPU s / estimate (mean, max) | wall s (mean, max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        sd = "n/a" if s["sd_relative_error"] is None else f"{s['sd_relative_error']:.3f}"
        rows.append(
            f"| {s['case']} | {s['n_frames']} | {s['n_seeds']} | {s['mean_relative_error']:+.3f} "
            f"| {sd} | {s['mean_abs_relative_error']:.3f} | {s['coverage_95']:.2f} "
            f"| {s['mean_cpu_s']:.1f}, {s['max_cpu_s']:.1f} "
            f"| {s['mean_wall_s']:.1f}, {s['max_wall_s']:.1f} |"
        )
    return "\n".join(
        [
            "# Known-D benchmark (Brownian Li, `ionic_assets.benchmarks.known_d`)",
            "",
            f"Command: `{command}`",
            "",
            f"True D = {TRUE_D_CM2_S:g} cm^2/s; {n_li} Li random walkers + 50 immobile O in a "
            f"15 Å cubic box; {RUN_PS:g} ps runs (frame interval = {RUN_PS:g} ps / frames); no "
            "equilibration discarded; one estimate per seed (trajectory and kinisi sampler).",
            "Relative error = D_est / D_true - 1 (D_est: posterior median). Coverage: fraction of "
            "seeds whose 95% credible interval contains D_true. Times: one estimate, the process "
            "pinned to one CPU core; CPU time is the single-core cost, wall time also counts "
            "waiting for that core on a shared machine.",
            "",
            "`default`: DEFAULT_SETTINGS (200 log-spaced time intervals, fit from 3 ps). "
            "`paper`: PAPER_SETTINGS (kinisi 2.0.1 defaults: every time interval, fit from 3 ps).",
            "",
            *rows,
            "",
            f"kinisi {kinisi.__version__}, numpy {np.__version__}, Python "
            f"{platform.python_version()}, {platform.machine()}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds, default settings, full size")
    parser.add_argument("--paper-seeds", type=int, default=1, help="seeds, paper settings, full")
    parser.add_argument("--small-seeds", type=int, default=10, help="seeds per case, 500 frames")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--n-li", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    # One core for everything, including scipp's own (TBB) threads that threadpoolctl can't cap.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    cases = [
        Case("default", DEFAULT_SETTINGS, args.frames, args.seeds),
        Case("paper", PAPER_SETTINGS, args.frames, args.paper_seeds),
        Case("default", DEFAULT_SETTINGS, 500, args.small_seeds),
        Case("paper", PAPER_SETTINGS, 500, args.small_seeds),
    ]
    records, summaries = [], []
    for case in (c for c in cases if c.n_seeds > 0):
        case_records = run_case(case, args.n_li)
        records += case_records
        summaries.append(summarize(case, case_records))

    given = sys.argv[1:] if argv is None else argv
    command = "python -m ionic_assets.benchmarks.known_d " + shlex.join(given)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"command": command.strip(), "true_D_cm2_s": TRUE_D_CM2_S, "summaries": summaries,
              "records": records}  # fmt: skip
    (args.out / "known_d.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "known_d.md").write_text(markdown(summaries, command.strip(), args.n_li))
    print(markdown(summaries, command.strip(), args.n_li))


if __name__ == "__main__":
    main()

"""Adaptive stopping vs the fixed 100 ps on trajectories of known D.

Each case is a Brownian Li trajectory (`science.synthetic`, the paper protocol's 50 fs frames,
100 ps) of known D. The adaptive protocol's rule (`science.md.adaptive`, config `adaptive`) is
applied to its prefixes at the times the MD engine would evaluate it; the D at the stop is
compared with the D of the whole 100 ps (what the `paper` protocol gives) and with the truth.

    nice -n 10 python -m ionic_assets.benchmarks.adaptive_stop

Writes data/benchmarks/adaptive_stop.json and .md (or --out).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ionic_assets.lib import settings
from ionic_assets.science.diffusion import DEFAULT_SETTINGS, estimate_diffusion
from ionic_assets.science.md.adaptive import MAX_DURATION, evaluate, rule_from_dict
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.synthetic import brownian_trajectory
from ionic_assets.science.trajectory import Trajectory

CASES_D_CM2_S = (3e-5, 1e-5, 5e-6, 1e-8)
FRAME_PS = 0.05


def prefix(trajectory: Trajectory, time_ps: float) -> Trajectory:
    n = round(time_ps / FRAME_PS) + 1
    return replace(
        trajectory, positions_A=trajectory.positions_A[:n], time_ps=trajectory.time_ps[:n]
    )


def run_case(D_cm2_s: float, seed: int, n_li: int) -> dict:
    protocol = load_protocol("adaptive")
    rule = rule_from_dict(protocol.adaptive)
    settings_ = replace(DEFAULT_SETTINGS, fit_start_ps=protocol.diffusion_fit_start_ps)
    full = brownian_trajectory(
        seed=seed, D_cm2_s=D_cm2_s, n_frames=2001, n_li=n_li, frame_interval_ps=FRAME_PS
    )
    kwargs = {"equilibration_ps": protocol.equilibration_ps, "settings": settings_}
    decision = None
    for time_ps in np.arange(rule.min_duration_ps, protocol.duration_ps, rule.evaluate_every_ps):
        decision = evaluate(
            prefix(full, time_ps), rule, max_duration_ps=protocol.duration_ps, **kwargs
        )
        if decision is not None:
            break
    fixed = estimate_diffusion(full, **kwargs)
    stop_ps = decision.time_ps if decision else protocol.duration_ps
    adaptive_D = decision.D_cm2_s if decision else fixed.D_cm2_s
    return {
        "true_D_cm2_s": D_cm2_s,
        "seed": seed,
        "stop_reason": decision.reason if decision else MAX_DURATION,
        "simulated_ps": float(stop_ps),
        "adaptive_D_cm2_s": adaptive_D,
        "fixed_100ps_D_cm2_s": fixed.D_cm2_s,
        "fixed_100ps_ci95_cm2_s": list(fixed.D_ci95_cm2_s),
        "fixed_100ps_msd_max_A2": fixed.msd_max_A2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--n-li", type=int, default=64)
    parser.add_argument("--out", type=Path, default=settings.PROJECT_ROOT / "data" / "benchmarks")
    args = parser.parse_args(argv)
    rows = [run_case(D, seed, args.n_li) for D in CASES_D_CM2_S for seed in range(args.seeds)]
    total_adaptive = sum(r["simulated_ps"] for r in rows)
    report = {
        "command": "python -m ionic_assets.benchmarks.adaptive_stop "
        + shlex.join(argv or sys.argv[1:]),
        "rows": rows,
        "simulated_ps_adaptive": total_adaptive,
        "simulated_ps_fixed": 100.0 * len(rows),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adaptive_stop.json").write_text(json.dumps(report, indent=2))
    (args.out / "adaptive_stop.md").write_text(_markdown(report))
    print(_markdown(report))
    return 0


def _markdown(report: dict) -> str:
    lines = [
        "# Adaptive stopping vs fixed 100 ps on known-D Brownian trajectories",
        "",
        f"`{report['command']}`. Simulated time: {report['simulated_ps_adaptive']:.0f} ps "
        f"adaptive vs {report['simulated_ps_fixed']:.0f} ps fixed.",
        "",
        "| true D (cm2/s) | seed | stop | simulated ps | D adaptive | D fixed 100 ps "
        "(95% interval) | MSD max at 100 ps (A2) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lo, hi = r["fixed_100ps_ci95_cm2_s"]
        lines.append(
            f"| {r['true_D_cm2_s']:.0e} | {r['seed']} | {r['stop_reason']} | "
            f"{r['simulated_ps']:.0f} | {r['adaptive_D_cm2_s']:.2e} | "
            f"{r['fixed_100ps_D_cm2_s']:.2e} ({lo:.2e}-{hi:.2e}) | "
            f"{r['fixed_100ps_msd_max_A2']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

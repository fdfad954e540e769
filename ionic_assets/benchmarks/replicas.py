"""Known-answer benchmark of the replica, collective, OLS and curvature estimators
(`science.synthetic` generators):

* seed replicas: sets of independent Brownian Li trajectories of one known D, each replica
  estimated by kinisi, combined by `science.replicas`: coverage of the combined 95% interval,
  how often the replicas are called consistent, and the kinisi / OLS slope ratio of every fit;
* Haven ratio: Li hopping alone (H_R = 1) or in concerted pairs (H_R = 0.5 by construction):
  the tracer and collective (`science.collective`) routes, bias and interval coverage;
* Arrhenius curvature: D samples around log10 D = a + b/T + c/T^2 with c known: coverage of the
  curvature interval and how often `non_arrhenius` is raised.

    python -m ionic_assets.benchmarks.replicas

Writes data/benchmarks/replicas.json (every estimate), replicas.md (summary, with the command's
wall time) and replicas.png.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ionic_assets.science.arrhenius import fit_arrhenius
from ionic_assets.science.collective import estimate_collective, haven_ratio
from ionic_assets.science.diffusion import DiffusionSettings, estimate_diffusion
from ionic_assets.science.replicas import combine_replicas
from ionic_assets.science.synthetic import (
    brownian_replicas,
    concerted_trajectory,
    curved_arrhenius_samples,
)

TRUE_D_CM2_S = 1e-5
RUN = {"n_frames": 1000, "n_li": 64, "n_framework": 8, "frame_interval_ps": 0.1,
       "D_cm2_s": TRUE_D_CM2_S}  # fmt: skip
SETTINGS = DiffusionSettings(fit_start_ps=3.0, n_samples=300, n_burn=300, n_time_intervals=100)
TEMPERATURES_K = (700.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0)
CURVATURE_K2 = 1e6


def replica_sets(n_sets: int, n_replicas: int) -> list[dict]:
    """One record per replica set: each replica's D and OLS D, the combined D and interval."""
    records = []
    for seed in range(n_sets):
        estimates = [
            estimate_diffusion(t, equilibration_ps=0.0, settings=SETTINGS, seed=seed)
            for t in brownian_replicas(n_replicas, seed=seed, **RUN)
        ]
        combined = combine_replicas([e.D_samples_cm2_s for e in estimates], seed=seed)
        records.append(
            {
                "seed": seed,
                "replica_D_cm2_s": [e.D_cm2_s for e in estimates],
                "replica_covered": [bool(lo <= TRUE_D_CM2_S <= hi)
                                    for lo, hi in (e.D_ci95_cm2_s for e in estimates)],
                "replica_D_ols_cm2_s": [e.D_ols_cm2_s for e in estimates],
                "D_cm2_s": combined.value,
                "D_ci95_cm2_s": list(combined.ci95),
                "covered": bool(combined.ci95[0] <= TRUE_D_CM2_S <= combined.ci95[1]),
                "consistent": combined.consistent,
            }
        )  # fmt: skip
        print(f"replicas seed {seed}: D/D_true = {combined.value / TRUE_D_CM2_S:.3f}", flush=True)
    return records


def haven_runs(n_seeds: int) -> list[dict]:
    records = []
    for group_size in (1, 2):
        for seed in range(n_seeds):
            traj = concerted_trajectory(group_size=group_size, seed=seed, **RUN)
            tracer = estimate_diffusion(traj, equilibration_ps=0.0, settings=SETTINGS, seed=seed)
            coll = estimate_collective(traj, equilibration_ps=0.0, settings=SETTINGS, seed=seed)
            h = haven_ratio(tracer.D_samples_cm2_s, coll.D_sigma_samples_cm2_s)
            truth = 1 / group_size
            true_D_sigma = TRUE_D_CM2_S * group_size
            records.append({"group_size": group_size, "seed": seed, "true_haven_ratio": truth,
                            "haven_ratio": h.value, "haven_ratio_ci95": list(h.ci95),
                            "covered": bool(h.ci95[0] <= truth <= h.ci95[1]),
                            "D_sigma_over_true": coll.D_sigma_cm2_s / true_D_sigma})  # fmt: skip
            print(f"Haven group {group_size} seed {seed}: H_R = {h.value:.2f}", flush=True)
    return records


def curvature_runs(n_seeds: int) -> list[dict]:
    records = []
    for curvature in (0.0, CURVATURE_K2):
        for seed in range(n_seeds):
            samples = curved_arrhenius_samples(TEMPERATURES_K, curvature_K2=curvature, seed=seed)
            fit = fit_arrhenius(TEMPERATURES_K, samples, n_li=10, volume_A3=1000.0, seed=seed,
                                n_draws=2000)  # fmt: skip
            lo, hi = fit.curvature_ci95_K2
            records.append({"true_curvature_K2": curvature, "seed": seed,
                            "curvature_K2": fit.curvature_K2, "curvature_ci95_K2": [lo, hi],
                            "covered": bool(lo <= curvature <= hi),
                            "non_arrhenius": fit.non_arrhenius})  # fmt: skip
    return records


def _mean(values) -> float:
    return float(np.mean(list(values)))


def summary(replicas: list[dict], haven: list[dict], curvature: list[dict]) -> dict:
    kinisi = np.concatenate([r["replica_D_cm2_s"] for r in replicas])
    ratios = kinisi / np.concatenate([r["replica_D_ols_cm2_s"] for r in replicas])
    out = {
        "replica_sets": len(replicas),
        "combined_coverage_95": _mean(r["covered"] for r in replicas),
        "single_replica_coverage_95": _mean(c for r in replicas for c in r["replica_covered"]),
        "consistent_fraction": _mean(r["consistent"] for r in replicas),
        "combined_mean_relative_error": _mean(r["D_cm2_s"] for r in replicas) / TRUE_D_CM2_S - 1,
        "kinisi_over_ols_min": float(ratios.min()),
        "kinisi_over_ols_max": float(ratios.max()),
    }
    for g in (1, 2):
        rows = [r for r in haven if r["group_size"] == g]
        out[f"haven_group{g}_geomean"] = float(
            np.exp(_mean(np.log(r["haven_ratio"]) for r in rows))
        )
        out[f"haven_group{g}_coverage_95"] = _mean(r["covered"] for r in rows)
        out[f"haven_group{g}_n"] = len(rows)
    for label, c in (("straight", 0.0), ("curved", CURVATURE_K2)):
        rows = [r for r in curvature if r["true_curvature_K2"] == c]
        out[f"curvature_{label}_coverage_95"] = _mean(r["covered"] for r in rows)
        out[f"curvature_{label}_flagged"] = _mean(r["non_arrhenius"] for r in rows)
        out[f"curvature_{label}_n"] = len(rows)
    return out


def figure(replicas: list[dict], haven: list[dict], curvature: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    order = sorted(replicas, key=lambda r: r["D_cm2_s"])
    for i, r in enumerate(order):
        lo, hi = r["D_ci95_cm2_s"]
        ax.plot(
            [i, i], [lo / TRUE_D_CM2_S, hi / TRUE_D_CM2_S], color="C0" if r["covered"] else "C3"
        )
        ax.plot(i, r["D_cm2_s"] / TRUE_D_CM2_S, "k.", ms=3)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(
        xlabel="replica set (sorted)",
        ylabel="combined D / true D (95% interval)",
        title="Seed replicas: combined intervals (red: miss)",
    )
    ax = axes[1]
    for g, color in ((1, "C0"), (2, "C1")):
        rows = [r for r in haven if r["group_size"] == g]
        x = np.arange(len(rows)) + (0 if g == 1 else len(rows) + 2)
        values = np.array([r["haven_ratio"] for r in rows])
        err = np.abs(np.array([r["haven_ratio_ci95"] for r in rows]).T - values)
        ax.errorbar(
            x,
            values,
            yerr=err,
            fmt="o",
            color=color,
            ms=3,
            label=f"{'independent' if g == 1 else 'concerted pairs'}: true {1 / g:g}",
        )
        ax.hlines(1 / g, x[0], x[-1], color=color, lw=0.8)
    ax.set(
        xlabel="seed",
        ylabel="Haven ratio (95% interval)",
        yscale="log",
        title="Haven ratio, known by construction",
    )
    ax.legend(fontsize=8)
    ax = axes[2]
    for c, color in ((0.0, "C0"), (CURVATURE_K2, "C1")):
        values = [r["curvature_K2"] for r in curvature if r["true_curvature_K2"] == c]
        ax.hist(values, bins=25, alpha=0.6, color=color, label=f"true c = {c:g} K²")
        ax.axvline(c, color=color)
    ax.set(xlabel="fitted curvature c (K²)", ylabel="fits", title="Arrhenius curvature test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)  # fmt: skip


def markdown(s: dict, command: str, wall_s: float) -> str:
    def row(label: str, *keys: str, fmt: str = ".2f") -> str:
        return f"| {label} | {', '.join(format(s[k], fmt) for k in keys)} |"

    return "\n".join([
        "# Known answers of the replica, collective, OLS and curvature estimators",
        "",
        f"Command: `{command}` ({wall_s / 60:.1f} min on one core of a shared 2-core machine).",
        "",
        f"Brownian Li (true D = {TRUE_D_CM2_S:g} cm^2/s), {RUN['n_frames']} frames of "
        f"{RUN['frame_interval_ps']} ps x {RUN['n_li']} Li, kinisi with 100 log-spaced intervals, "
        "fit from 3 ps, 300 x 32 emcee samples. Arrhenius sets: 6 temperatures 700-1200 K, "
        "0.02 decade error per temperature.",
        "",
        "| quantity | result |",
        "|---|---|",
        row(f"combined 95% interval of {s['replica_sets']} sets of 3 replicas holds the true D",
            "combined_coverage_95"),
        row("single-replica 95% intervals holding it", "single_replica_coverage_95"),
        row("sets whose replicas are called consistent (Cochran Q, 5%)", "consistent_fraction"),
        row("mean relative error of the combined D", "combined_mean_relative_error", fmt="+.3f"),
        row("kinisi D / OLS D over every fit (min, max; flagged beyond 3)",
            "kinisi_over_ols_min", "kinisi_over_ols_max"),
        row(f"Haven ratio, independent Li (true 1), {s['haven_group1_n']} seeds: geometric "
            "mean, 95% coverage", "haven_group1_geomean", "haven_group1_coverage_95"),
        row(f"Haven ratio, concerted pairs (true 0.5), {s['haven_group2_n']} seeds",
            "haven_group2_geomean", "haven_group2_coverage_95"),
        row(f"straight line ({s['curvature_straight_n']} sets): curvature interval holds 0, "
            "non_arrhenius raised", "curvature_straight_coverage_95", "curvature_straight_flagged"),
        row(f"curved, c = {CURVATURE_K2:g} K²: interval holds c, non_arrhenius raised",
            "curvature_curved_coverage_95", "curvature_curved_flagged"),
        "",
        "![replicas, Haven ratio, curvature](replicas.png)",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=40, help="replica sets of 3")
    parser.add_argument("--haven-seeds", type=int, default=15, help="seeds per group size")
    parser.add_argument("--curvature-seeds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with threadpool_limits(1):
        replicas = replica_sets(args.sets, 3)
        haven = haven_runs(args.haven_seeds)
        curvature = curvature_runs(args.curvature_seeds)
    wall_s = time.perf_counter() - start
    s = summary(replicas, haven, curvature)
    given = sys.argv[1:] if argv is None else argv
    command = ("python -m ionic_assets.benchmarks.replicas " + shlex.join(given)).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"command": command, "summary": s, "replicas": replicas, "haven": haven,
              "curvature": curvature}  # fmt: skip
    (args.out / "replicas.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / "replicas.md").write_text(markdown(s, command, wall_s))
    figure(replicas, haven, curvature, args.out / "replicas.png")
    print(markdown(s, command, wall_s))


if __name__ == "__main__":
    main()

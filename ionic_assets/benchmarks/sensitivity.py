"""Sensitivity benchmark: the `<method>/sensitivity` variants on trajectories of known D(T).

Brownian Li (`science.synthetic.brownian_trajectory`) with D(T) = D0 exp(-Ea / kB T) at five
temperatures, one trajectory per temperature and seed; each set goes through
`science.sensitivity` as the asset does: every trajectory cut to 25, 50, 75 and 100 % of its
simulated time and reanalysed, and the Arrhenius fit over every subset of >= 3 temperatures.
The known sigma(300 K) and Ea say how far each variant is off.

    python -m ionic_assets.benchmarks.sensitivity --seeds 1

Writes data/benchmarks/sensitivity.json (every variant) and data/benchmarks/sensitivity.md.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np

from ionic_assets.science import sensitivity
from ionic_assets.science.arrhenius import KB_EV_K
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import DEFAULT_SETTINGS
from ionic_assets.science.synthetic import brownian_trajectory

EA_EV, D0_CM2_S = 0.30, 1e-3
TEMPERATURES_K = (800.0, 900.0, 1000.0, 1100.0, 1200.0)
N_LI, BOX_A, FRAME_PS, EQUILIBRATION_PS, FIT_START_PS = 64, 15.0, 0.1, 5.0, 3.0


def true_D(temperature_K: float) -> float:
    return D0_CM2_S * math.exp(-EA_EV / (KB_EV_K * temperature_K))


def true_log10_sigma300() -> float:
    return math.log10(nernst_einstein_sigma_mS_cm(true_D(300.0), N_LI, BOX_A**3, 300.0))


def partitions(seed: int, n_frames: int) -> list[sensitivity.Partition]:
    out = []
    for i, T in enumerate(TEMPERATURES_K):
        traj = brownian_trajectory(seed=100 * seed + i, D_cm2_s=true_D(T), n_frames=n_frames,
                                   n_li=N_LI, n_framework=16, frame_interval_ps=FRAME_PS,
                                   box_A=BOX_A)  # fmt: skip
        traj = traj.__class__(**{**traj.__dict__, "temperature_K": T})
        out.append(sensitivity.Partition(T, [traj], [0], EQUILIBRATION_PS, FIT_START_PS))
    return out


def record(seed: int, v: sensitivity.Variant) -> dict:
    base = {"seed": seed, "kind": v.kind, "variant": v.label, "duration_ps": v.duration_ps}
    if v.fit is None:
        return base | {"reason": v.reason}
    lo, hi = v.fit.sigma300_ci95_mS_cm
    truth = true_log10_sigma300()
    return base | {
        "sigma300_mS_cm": v.fit.sigma300_mS_cm,
        "sigma300_ci95_mS_cm": [lo, hi],
        "log10_error": math.log10(v.fit.sigma300_mS_cm) - truth,
        "ci95_width_decades": math.log10(hi / lo),
        "covered": bool(math.log10(lo) <= truth <= math.log10(hi)),
        "Ea_eV": v.fit.Ea_eV,
        "Ea_error_eV": v.fit.Ea_eV - EA_EV,
    }


def run_seed(seed: int, n_frames: int) -> tuple[list[dict], dict]:
    parts = partitions(seed, n_frames)
    variants = sensitivity.duration_variants(parts, DEFAULT_SETTINGS)
    full = [sensitivity.cut_D_samples(p, 1.0, DEFAULT_SETTINGS) for p in parts]
    variants += sensitivity.temperature_variants(
        TEMPERATURES_K, [D for D, _, _ in full], n_li=N_LI, volume_A3=BOX_A**3
    )
    spreads = {}
    for kind in (sensitivity.DURATION, sensitivity.TEMPERATURES):
        s = sensitivity.spread(sensitivity.labelled_sigma([v for v in variants if v.kind == kind]))
        spreads[kind] = None if s is None else s.__dict__
    print(f"seed {seed}: spreads {json.dumps(spreads)}", flush=True)
    return [record(seed, v) for v in variants], {"seed": seed, "spreads": spreads}


def summary(records: list[dict]) -> list[dict]:
    """Per duration variant, and over all temperature subsets: mean |log10 error|, mean 95%
    width (decades), coverage and mean |Ea error|, over seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        label = r["variant"] if r["kind"] == sensitivity.DURATION else "every subset of >= 3"
        groups.setdefault((r["kind"], label), []).append(r)
    rows = []
    for (kind, label), rs in groups.items():
        fitted = [r for r in rs if "log10_error" in r]
        rows.append({
            "kind": kind, "variant": label, "n": len(rs), "n_fitted": len(fitted),
            "duration_ps": rs[0]["duration_ps"],
            "mean_abs_log10_error": _mean([abs(r["log10_error"]) for r in fitted]),
            "mean_ci95_width_decades": _mean([r["ci95_width_decades"] for r in fitted]),
            "coverage_95": _mean([r["covered"] for r in fitted]),
            "mean_abs_Ea_error_eV": _mean([abs(r["Ea_error_eV"]) for r in fitted]),
            "reasons": sorted({r["reason"] for r in rs if "reason" in r}),
        })  # fmt: skip
    return rows


def _mean(values: list) -> float | None:
    return float(np.mean(values)) if values else None


def markdown(rows: list[dict], spreads: list[dict], command: str, n_frames: int) -> str:
    table = [
        "| kind | variant | simulated time kept (ps) | fits | mean abs log10 error "
        "| mean 95% width (decades) | 95% coverage | mean abs Ea error (eV) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        kept = "-" if r["duration_ps"] is None else f"{r['duration_ps']:.1f}"
        stats = [r[k] for k in ("mean_abs_log10_error", "mean_ci95_width_decades", "coverage_95",
                                "mean_abs_Ea_error_eV")]  # fmt: skip
        cells = " | ".join("-" if x is None else f"{x:.3f}" for x in stats)
        table.append(f"| {r['kind']} | {r['variant']} | {kept} | {r['n_fitted']}/{r['n']} "
                     f"| {cells} |")  # fmt: skip
    spread_rows = ["| seed | duration spread (decades, low - high) | temperature-subset spread |",
                   "|---|---|---|"]  # fmt: skip
    for s in spreads:
        cells = []
        for kind in (sensitivity.DURATION, sensitivity.TEMPERATURES):
            d = s["spreads"][kind]
            cells.append("-" if d is None else
                         f"{d['spread_decades']:.3f} ({d['low']} - {d['high']})")  # fmt: skip
        spread_rows.append(f"| {s['seed']} | {cells[0]} | {cells[1]} |")
    duration_ps = (n_frames - 1) * FRAME_PS
    return "\n".join([
        "# Sensitivity benchmark (known D(T), `ionic_assets.benchmarks.sensitivity`)",
        "",
        f"Command: `{command}`",
        "",
        f"Brownian Li with D(T) = {D0_CM2_S:g} exp(-{EA_EV:g} eV / kB T) cm^2/s at "
        f"{', '.join(f'{t:g}' for t in TEMPERATURES_K)} K; {N_LI} Li + 16 immobile O in a "
        f"{BOX_A:g} Å box; {duration_ps:g} ps per trajectory ({n_frames} frames), "
        f"{EQUILIBRATION_PS:g} ps equilibration, MSD fit from {FIT_START_PS:g} ps, default "
        "diffusion settings. True sigma(300 K) = "
        f"{10 ** true_log10_sigma300():.4g} mS/cm. Duration variants: every trajectory cut to the "
        "fraction of its simulated time, reanalysed by kinisi, then the Arrhenius fit; "
        "temperature variants: the fit over every subset of >= 3 of the 5 temperatures (16) from "
        "the full trajectories. Error = log10 sigma_variant - log10 sigma_true; coverage: "
        "fraction whose 95% interval holds the truth.",
        "",
        *table,
        "",
        "Spread per seed (max - min log10 sigma(300 K) over the variants of a kind):",
        "",
        *spread_rows,
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1001, help="frames per trajectory")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args(argv)
    records, spreads = [], []
    for seed in range(args.seeds):
        rs, sp = run_seed(seed, args.frames)
        records += rs
        spreads.append(sp)
    given = sys.argv[1:] if argv is None else argv
    command = ("python -m ionic_assets.benchmarks.sensitivity " + shlex.join(given)).strip()
    rows = summary(records)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = {"true_log10_sigma300_mS_cm": true_log10_sigma300(), "true_Ea_eV": EA_EV}
    result = {"command": command, **truth, "summary": rows, "spreads": spreads, "records": records}
    (args.out / "sensitivity.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(rows, spreads, command, args.frames)
    (args.out / "sensitivity.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Sensitivity benchmark: the `<method>/sensitivity` variants on trajectories of known D(T).

Brownian Li (`science.synthetic.brownian_trajectory`) with D(T) = D0 exp(-Ea / kB T) at five
temperatures, one trajectory per temperature and seed; each set goes through
`science.sensitivity` as the asset does: every trajectory cut to 25, 50, 75 and 100 % of its
simulated time and reanalysed, and the Arrhenius fit over every subset of >= 3 temperatures.
The known sigma(300 K) and Ea say how far each variant is off.

Then the melting indicator (`science.melting`, the framework's Lindemann ratio and its verdict)
on the constructed solid and liquid frameworks (`synthetic.framework_trajectory`, 1200 K) and on
one real model run: CHGNet under the smoke protocol at 1200 K on the unit cell of Li3BN2 (qa9:
12 atoms, 6 of them framework B and N), built as the supercells asset builds it.

    python -m ionic_assets.benchmarks.sensitivity --seeds 1
    python -m ionic_assets.benchmarks.sensitivity --melting-only   # keeps the known-D results

Writes data/benchmarks/sensitivity.json (every variant, the melting cases) and
data/benchmarks/sensitivity.md. `--melting-only` reruns the melting section alone and keeps the
known-D part recorded in the JSON (with its command).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ionic_assets.science import melting, sensitivity
from ionic_assets.science.arrhenius import KB_EV_K
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import DEFAULT_SETTINGS
from ionic_assets.science.synthetic import brownian_trajectory, framework_trajectory
from ionic_assets.science.trajectory import LI

EA_EV, D0_CM2_S = 0.30, 1e-3
TEMPERATURES_K = (800.0, 900.0, 1000.0, 1100.0, 1200.0)
N_LI, BOX_A, FRAME_PS, EQUILIBRATION_PS, FIT_START_PS = 64, 15.0, 0.1, 5.0, 3.0
#: The real run of the melting section: method, protocol, material, temperature, velocity seed.
MELT_METHOD, MELT_PROTOCOL, MELT_MATERIAL, MELT_TEMPERATURE_K, MELT_SEED = (
    "chgnet", "smoke", "qa9", 1200.0, 20260101,
)  # fmt: skip


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


def constructed_melting() -> list[dict]:
    """The Lindemann ratio and verdict of the constructed frameworks at 1200 K: 64 atoms on a
    3 Å lattice vibrating by 0.1 Å per component (solid), and the same diffusing with
    D = 1e-5 cm^2/s (liquid), 50 ps, the first ps left out."""
    cases = []
    for liquid in (False, True):
        traj = framework_trajectory(seed=1, liquid=liquid)
        ratio = melting.framework_lindemann_ratio(traj, equilibration_ps=1.0)
        cases.append({
            "case": "constructed " + ("liquid" if liquid else "solid"), "n_atoms": traj.n_atoms,
            "n_framework": int((traj.numbers != LI).sum()), "temperature_K": traj.temperature_K,
            "simulated_ps": sensitivity.simulated_ps(traj),
            "lindemann_ratio": ratio, "melted": melting.melted(ratio),
        })  # fmt: skip
    return cases


def real_melting(workdir: Path) -> dict:
    """`MELT_METHOD` under `MELT_PROTOCOL` at `MELT_TEMPERATURE_K` on `MELT_MATERIAL`'s cell
    (CPU, ASE), and the framework's Lindemann ratio over the frames after the equilibration."""
    from ionic_assets.lib import settings  # the model and OBELiX: only where the run happens
    from ionic_assets.lib.methods import load_methods
    from ionic_assets.science import obelix, structures
    from ionic_assets.science.forcefields import ModelSpec, build_calculator
    from ionic_assets.science.md.ase_runner import run_nvt
    from ionic_assets.science.protocols import load_protocol
    from ionic_assets.science.trajectory_import import load_trajectory

    protocol = load_protocol(MELT_PROTOCOL)
    unit = obelix.read_structure(settings.OBELIX_DATA_DIR.value(), MELT_MATERIAL)
    cell = structures.simulation_cell(unit, MELT_MATERIAL, protocol.min_cell_width_A)
    spec = ModelSpec.from_dict(load_methods()[MELT_METHOD].settings["model"])
    model = build_calculator(spec, "cpu")
    path = workdir / f"{MELT_MATERIAL}_{MELT_TEMPERATURE_K:g}K.h5"
    start = time.perf_counter()
    run_nvt(structures.to_ase(cell.structure), model, protocol, MELT_TEMPERATURE_K, MELT_SEED,
            path)  # fmt: skip
    wall_s = time.perf_counter() - start
    traj = load_trajectory(path)
    rms_A, nn_A = melting.framework_displacement_A(traj, protocol.equilibration_ps)
    ratio, formula = rms_A / nn_A, unit.composition.reduced_formula
    return {
        "case": f"{MELT_METHOD} {MELT_PROTOCOL} {MELT_MATERIAL} ({formula})",
        "n_atoms": traj.n_atoms, "n_framework": int((traj.numbers != LI).sum()),
        "temperature_K": MELT_TEMPERATURE_K, "simulated_ps": sensitivity.simulated_ps(traj),
        "equilibration_ps": protocol.equilibration_ps, "n_frames": traj.n_frames,
        "seed": MELT_SEED, "wall_time_s": wall_s, "model": model.identity,
        "framework_rms_displacement_A": rms_A, "framework_nearest_neighbour_A": nn_A,
        "lindemann_ratio": ratio, "melted": melting.melted(ratio),
    }  # fmt: skip


def melting_markdown(cases: list[dict], command: str) -> str:
    rows = ["| case | atoms (framework) | T (K) | simulated (ps) | Lindemann ratio | melted |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for c in cases:
        ratio = "-" if c["lindemann_ratio"] is None else f"{c['lindemann_ratio']:.3f}"
        rows.append(f"| {c['case']} | {c['n_atoms']} ({c['n_framework']}) | "
                    f"{c['temperature_K']:g} | {c['simulated_ps']:.2f} | {ratio} | "
                    f"{'yes' if c['melted'] else 'no'} |")  # fmt: skip
    real = cases[-1]
    return "\n".join([
        "## Melting indicator (`science.melting`)",
        "",
        f"Command: `{command}`",
        "",
        "The framework's Lindemann ratio (RMS displacement of the non-Li atoms about their "
        "time-averaged sites, common drift removed, over the frames after the equilibration, "
        "divided by the mean distance from each site to the nearest site of its element); "
        "melted at or above "
        f"{melting.LINDEMANN_MELTED:g}. The constructed cases: 64 framework atoms on a 3 Å "
        "lattice with 16 Brownian Li, 50 ps, vibrating by 0.1 Å per component (expected "
        "sqrt(3) x 0.1 / 3 = 0.058) or diffusing with D = 1e-5 cm^2/s. The real run: "
        f"{real['case']}, {real['n_frames']} frames, {real['equilibration_ps']:g} ps left out, "
        f"velocity seed {real['seed']}, CPU, {real['wall_time_s']:.0f} s wall "
        f"(model {real['model'].get('family')} {real['model'].get('name')}): the framework's RMS "
        f"displacement about its sites {real['framework_rms_displacement_A']:.3f} Å, the mean "
        f"same-element site spacing {real['framework_nearest_neighbour_A']:.3f}"
        " Å. A smoke run is a plumbing check, not a melting study: 0.5 ps analysed.",
        "",
        *rows,
        "",
    ])  # fmt: skip


def known_D(args, argv) -> dict:
    """The known-D part: every seed's variants, their summary and spreads, and the command."""
    records, spreads = [], []
    for seed in range(args.seeds):
        rs, sp = run_seed(seed, args.frames)
        records += rs
        spreads.append(sp)
    command = ("python -m ionic_assets.benchmarks.sensitivity " + shlex.join(argv)).strip()
    truth = {"true_log10_sigma300_mS_cm": true_log10_sigma300(), "true_Ea_eV": EA_EV}
    rows = summary(records)
    return {"command": command, **truth, "summary": rows, "spreads": spreads, "records": records}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1001, help="frames per trajectory")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    parser.add_argument(
        "--melting-only", action="store_true", help="the melting section only, known-D kept"
    )
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(given)
    stored = args.out / "sensitivity.json"
    if args.melting_only:
        result = json.loads(stored.read_text())
        recorded = shlex.split(result["command"])[3:]  # the known-D part's own arguments
        frames = parser.parse_args(recorded).frames
    else:
        result, frames = known_D(args, given), args.frames
    with tempfile.TemporaryDirectory(prefix="ionic-melting-") as tmp:
        cases = [*constructed_melting(), real_melting(Path(tmp))]
    melting_command = "python -m ionic_assets.benchmarks.sensitivity " + shlex.join(given)
    result |= {"melting_command": melting_command.strip(), "melting": cases}
    args.out.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result["summary"], result["spreads"], result["command"], frames)
    text += "\n" + melting_markdown(cases, result["melting_command"])
    (args.out / "sensitivity.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""The figures of a realistic synthetic benchmark, rendered to PNG to look at.

The paper's 21 OBELiX materials (their measured sigma and formulas) and the ML methods of
config/methods.yaml. Each method's "true" 300 K conductivity misses experiment by a method bias
plus a per-material scatter (decades). Through it D(T) follows the Arrhenius law, with an
activation energy that grows as the measured conductivity falls, at five temperatures
(800-1200 K); each D has lognormal posterior samples whose spread grows as fewer temperatures
reach the MSD threshold, and `science.arrhenius.fit_arrhenius` fits them. A few
cases are the hard ones a referee looks at: a material with two close temperatures and a huge
spread (a 300 K interval over tens of decades, as in a smoke run), one with no estimable fit, and
one whose D rises towards low temperature (Ea < 0). The rows go through the platform's own
benchmark SQL (`benchmark_table`, `benchmark_mae`) in an in-memory DuckDB, and the figures take
those tables, as the `benchmark_table` asset does.

    python -m ionic_assets.benchmarks.figures --obelix-dir ../shared/obelix

Writes data/benchmarks/figures/*.png (Figures 1-3, an Arrhenius and an MSD plot, an Arrhenius
plot with its diagnostics and one with a non-physical Ea), each titled `figures.SYNTHETIC_NOTE`
with the methods' names and MAEs where the figure compares them, and README.md there with the
command.
The diagnostics (residuals, curvature, leave-one-out, the non-physical Ea flag) are those
`fit_arrhenius` computes for these synthetic points.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ionic_assets.defs.benchmark.assets import rebuild_benchmark_table
from ionic_assets.lib import settings
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.reports.export import write_figures
from ionic_assets.lib.warehouse import ensure_tables
from ionic_assets.science import figures, obelix
from ionic_assets.science.arrhenius import ROOM_TEMPERATURE_K, arrhenius_D_cm2_s, fit_arrhenius
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.errors import NotEstimable
from ionic_assets.science.transport import MSD_THRESHOLD_A2

TEMPERATURES_K = np.array([800.0, 900.0, 1000.0, 1100.0, 1200.0])
N_LI, VOLUME_A3 = 24, 1500.0  # a typical supercell of >= 10 Å
#: Method -> bias of log10 sigma(300 K) (decades); the scatter around it is 1.2 decades.
BIAS = {"mace-mpa-0": -0.4, "chgnet": -1.3, "sevenn-0": 0.3}
WIDE, NONE, NEGATIVE_EA = "fft", "rr5", "gvd"
#: The protocol the synthetic fits are stored under.
PROTOCOL = "synthetic"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obelix-dir", type=Path, help="OBELiX release (default: OBELIX_DATA_DIR)")
    parser.add_argument(
        "--out", type=Path, default=Path("data/benchmarks/figures"), help="where the PNGs go"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    materials = obelix.select_entries(
        obelix.load_table(args.obelix_dir or settings.OBELIX_DATA_DIR.value()),
        list(obelix.PAPER_MATERIAL_IDS),
    )
    rng = np.random.default_rng(args.seed)
    methods = [m for m in load_methods() if m in BIAS]
    fits, points = {}, {}
    for method in methods:
        for mid, row in materials.iterrows():
            fits[method, mid], points[method, mid] = _synthetic_material(
                method, mid, row.sigma_exp_mS_cm, rng
            )
    bench, mae = _benchmark_tables(materials, fits)
    colors = figures.method_colors(load_methods())
    note = figures.SYNTHETIC_NOTE
    named = {
        "fig1_parity": figures.parity_figure(bench, mae, colors, title_note=note),
        "fig2_parity_chgnet_vs_mace-mpa-0": figures.method_parity_figure(
            bench, "mace-mpa-0", "chgnet", colors, mae=mae, title_note=note
        ),
        "fig3_log_error": figures.log_error_figure(bench, colors, mae=mae, title_note=note),
        **_material_figures(fits, points),
    }
    _write_pngs(named, args.out, argv)
    return 0


def _synthetic_material(method: str, mid: str, sigma_exp: float, rng):
    """(arrhenius_fits row, diffusion points) of one method and material."""
    ea = 0.28 - 0.05 * np.log10(sigma_exp) + rng.normal(0.0, 0.04)  # eV: poor conductors higher
    sigma_true = sigma_exp * 10 ** (BIAS[method] + rng.normal(0.0, 1.2))
    d300 = sigma_true / nernst_einstein_sigma_mS_cm(1.0, N_LI, VOLUME_A3, ROOM_TEMPERATURE_K)
    d0 = d300 / arrhenius_D_cm2_s(ROOM_TEMPERATURE_K, ea, 1.0)
    temps = TEMPERATURES_K
    n_reliable = int(np.clip(np.round((np.log10(sigma_exp) + 9) / 2), 0, 5))
    spread = 0.03 + 0.05 * (5 - n_reliable)  # log10 sd of the D posterior
    if mid == WIDE:
        temps, spread = np.array([1150.0, 1200.0]), 0.8
    if mid == NEGATIVE_EA:
        ea, d0 = -0.3, 1e-7
    d = arrhenius_D_cm2_s(temps, ea, d0) * 10 ** rng.normal(0.0, 0.1, temps.size)
    samples = [di * 10 ** rng.normal(0.0, spread, 2000) for di in d]
    row = {
        "method": method,
        "material_id": mid,
        "protocol": PROTOCOL,
        "temperatures_K": list(temps),
    }
    row |= {"n_temperatures": temps.size, "n_reliable": min(n_reliable, temps.size)}
    try:
        if mid == NONE and method == "chgnet":
            raise NotEstimable("every temperature's D interval reaches zero")
        with np.errstate(over="ignore", invalid="ignore"):  # the WIDE case overflows to inf
            fit = fit_arrhenius(temps, samples, n_li=N_LI, volume_A3=VOLUME_A3)
        row |= {"estimable": True, "reason": None, **fit.as_row()}
    except NotEstimable as exc:
        row |= {"estimable": False, "reason": str(exc)}
    pts = pd.DataFrame(
        {
            "temperature_K": temps,
            "D_cm2_s": [np.median(s) for s in samples],
            "D_ci95_lo_cm2_s": [np.percentile(s, 2.5) for s in samples],
            "D_ci95_hi_cm2_s": [np.percentile(s, 97.5) for s in samples],
            "reliable": np.arange(temps.size) >= temps.size - row["n_reliable"],
        }
    )
    return row, pts


def _benchmark_tables(materials: pd.DataFrame, fits: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`benchmark_table` and `benchmark_mae` by the platform's SQL over the synthetic rows."""
    conn = duckdb.connect()
    ensure_tables(conn)
    subset = pd.DataFrame(
        {
            "material_id": materials.index,
            "formula": materials["Reduced Composition"].values,
            "sigma_exp_mS_cm": materials["sigma_exp_mS_cm"].values,
        }
    )
    rows = pd.DataFrame(list(fits.values()))
    conn.register("subset", subset)
    conn.register("fits", rows)
    conn.execute("INSERT INTO obelix_subset BY NAME SELECT * FROM subset")
    conn.execute("INSERT INTO arrhenius_fits BY NAME SELECT * FROM fits")
    rebuild_benchmark_table(conn, dict.fromkeys(rows["method"], PROTOCOL))
    return conn.execute("SELECT * FROM benchmark_table").df(), conn.execute(
        "SELECT * FROM benchmark_mae"
    ).df()


def _material_figures(fits: dict, points: dict) -> dict:
    """Arrhenius (plain, with diagnostics, non-physical Ea) and MSD figures of single materials,
    each titled as synthetic."""
    key = ("mace-mpa-0", "wyu")
    note = {"title_note": figures.SYNTHETIC_NOTE}
    fit = fits[key]
    pts = points[key]
    diagnostics = ("residuals_log10_D", "curvature_K2", "loo_delta_log10_sigma300")
    plain = {k: v for k, v in fit.items() if k not in diagnostics}
    return {
        "arrhenius_wyu_mace-mpa-0": figures.arrhenius_figure(pts, plain, *key[::-1], **note),
        "arrhenius_diagnostics_wyu_mace-mpa-0": figures.arrhenius_figure(
            pts, fit, *key[::-1], **note
        ),
        "arrhenius_nonphysical_gvd_chgnet": figures.arrhenius_figure(
            points["chgnet", NEGATIVE_EA],
            fits["chgnet", NEGATIVE_EA],
            NEGATIVE_EA,
            "chgnet",
            **note,
        ),
        "msd_wyu_mace-mpa-0": figures.msd_figure(
            _msd_curves(pts), MSD_THRESHOLD_A2, *key[::-1], **note
        ),
    }


def _msd_curves(pts: pd.DataFrame) -> pd.DataFrame:
    """Li MSD (Å^2) vs lag (ps) per temperature: a vibrational offset, then 6 D t, with noise."""
    rng = np.random.default_rng(1)
    dt = np.linspace(0.0, 47.5, 96)
    rows = []
    for t, d in zip(pts["temperature_K"], pts["D_cm2_s"], strict=True):
        msd = 1.2 + 6 * d * 1e4 * dt * (1 + 0.05 * rng.standard_normal(dt.size).cumsum() / 10)
        rows.append(pd.DataFrame({"temperature_K": t, "dt_ps": dt, "msd_A2": msd}))
    return pd.concat(rows)


def _write_pngs(named: dict, out: Path, argv: list[str] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        written = write_figures([(fig, Path(tmp) / name) for name, fig in named.items()], png=True)
        for name, paths in zip(named, written, strict=True):
            if paths["png"] is None:
                sys.exit(f"error: {name}: no PNG (no Chromium for kaleido?)")
            shutil.copyfile(paths["png"], out / f"{name}.png")
    command = shlex.join(
        ["python", "-m", "ionic_assets.benchmarks.figures", *(argv or sys.argv[1:])]
    )
    (out / "README.md").write_text(
        "# Figures of a synthetic benchmark\n\n"
        f"Made by `{command}` (see that module's docstring for what the data are).\n\n"
        + "".join(f"- `{name}.png`\n" for name in named)
    )


if __name__ == "__main__":
    raise SystemExit(main())

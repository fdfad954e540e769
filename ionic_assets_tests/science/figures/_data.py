"""Synthetic inputs of the figure tests: a benchmark table shaped like `benchmark_table` (a slice
of the paper's OBELiX selection with known log10 errors), its `benchmark_mae` view computed by the
platform's own SQL, Arrhenius points with a fit, and MSD curves."""

import math

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ionic_assets.defs.benchmark.assets import VIEWS_SQL
from ionic_assets.lib.warehouse import ensure_tables

KB = 8.617333262e-5  # Boltzmann's constant, eV/K (CODATA), independent of the code under test

# material, formula, sigma_exp (mS/cm): a slice of the paper's OBELiX selection (Table 2)
MATERIALS = [
    ("mdp", "Li7P3S11", 11.6),
    ("wyu", "Li7La3Zr2O12", 0.31),
    ("joc", "Li3PS4", 0.16),
    ("fft", "Li3N", 0.21),
    ("rr5", "LiTi2(PO4)3", 2.6e-3),
    ("dth", "Li4GeO4", 3.0e-6),
    ("47i", "Li4P2O7", 1e-12),
]
# method -> material -> (log10 error, n_reliable); None: fit not estimable (sigma_pred NaN)
PRED = {
    "MACE": {
        "mdp": (0.4, 5), "wyu": (-1.1, 5), "joc": (0.9, 4), "fft": (-5.3, 1),
        "rr5": (-6.2, 0), "dth": (-2.8, 2), "47i": (7.5, 0),
    },
    "DFT": {
        "mdp": (0.2, 5), "wyu": (-0.7, 5), "joc": (1.3, 3), "fft": (-4.1, 2),
        "rr5": None, "dth": (-3.5, 1),
    },
}  # fmt: skip


def make_bench() -> pd.DataFrame:
    rows = []
    for method, preds in PRED.items():
        for mid, formula, s_exp in MATERIALS:
            if mid not in preds:
                continue
            p = preds[mid]
            err, n_rel = p if p is not None else (np.nan, 0)
            pred = s_exp * 10**err
            rows.append(
                {
                    "method": method,
                    "material_id": mid,
                    "formula": formula,
                    "sigma_exp_mS_cm": s_exp,
                    "sigma_pred_mS_cm": pred,
                    "sigma_pred_ci95_lo_mS_cm": pred / 10**0.35,
                    "sigma_pred_ci95_hi_mS_cm": pred * 10**0.45,
                    "log10_error": err,
                    "n_reliable": n_rel,
                    "n_temperatures": 5,
                    "Ea_eV": np.nan if p is None else 0.25 + 0.1 * n_rel,
                    # MACE on 47i: a non-physical Ea (the arrhenius_fits flag, not recomputed)
                    "Ea_nonphysical": (method, mid) == ("MACE", "47i"),
                }
            )
    # the benchmark SQL orders by method, sigma_exp; shuffle to prove the figures sort themselves
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)


def make_points_and_fit():
    ea, d0 = 0.31, 2.4e-3  # eV, cm^2/s
    temps = np.array([800.0, 900.0, 1000.0, 1100.0, 1200.0])
    d = d0 * np.exp(-ea / (KB * temps)) * np.array([1.1, 0.93, 1.04, 0.97, 1.02])
    points = pd.DataFrame(
        {
            "temperature_K": temps,
            "D_cm2_s": d,
            "D_ci95_lo_cm2_s": d * 0.7,
            "D_ci95_hi_cm2_s": d * 1.35,
            "reliable": [False, True, True, True, True],
        }
    )
    d300 = d0 * math.exp(-ea / (KB * 300.0))
    fit = {
        "Ea_eV": ea,
        "D0_cm2_s": d0,
        "D300_cm2_s": d300,
        "D300_ci95_lo_cm2_s": d300 / 4,
        "D300_ci95_hi_cm2_s": d300 * 3,
    }
    return points, fit


def make_curves() -> pd.DataFrame:
    rows = []
    dt = np.linspace(0.0, 47.5, 96)  # ps, half of a 95 ps production run
    for t in (800.0, 900.0, 1000.0, 1100.0, 1200.0):
        d_A2_ps = 0.1 * math.exp(-0.31 / (KB * t)) / math.exp(-0.31 / (KB * 1200.0))
        msd = 0.8 + 6 * d_A2_ps * dt  # Å^2: a vibrational offset, then Einstein diffusion
        rows += [
            {"temperature_K": t, "dt_ps": x, "msd_A2": y} for x, y in zip(dt, msd, strict=True)
        ]
    return pd.DataFrame(rows)


def data_traces(fig: go.Figure, name: str | None = None) -> list:
    """Traces that carry material points (the method series)."""
    return [t for t in fig.data if t.name in PRED and (name is None or t.name == name)]


def mae_table(bench: pd.DataFrame) -> pd.DataFrame:
    """The `benchmark_mae` view over `bench`, by the platform's SQL in an in-memory DuckDB."""
    conn = duckdb.connect()
    ensure_tables(conn)  # benchmark_cost, in the same SQL, reads md_trajectories
    conn.register("bench", bench)
    conn.execute("INSERT INTO benchmark_table BY NAME SELECT * FROM bench")
    conn.execute(VIEWS_SQL)
    return conn.execute("SELECT * FROM benchmark_mae").df()

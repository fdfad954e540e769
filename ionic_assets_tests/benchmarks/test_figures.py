"""The synthetic benchmark behind data/benchmarks/figures/ goes through the platform's SQL."""

import numpy as np
import pandas as pd
import pytest

from ionic_assets.benchmarks import figures as bench_figures
from ionic_assets.science import obelix


@pytest.mark.slow
def test_synthetic_benchmark_tables_hold_the_hard_cases(obelix_dir):
    materials = obelix.select_entries(
        obelix.load_table(obelix_dir), list(obelix.PAPER_MATERIAL_IDS)
    )
    rng = np.random.default_rng(7)
    fits = {
        (m, mid): bench_figures._synthetic_material(m, mid, row.sigma_exp_mS_cm, rng)[0]
        for m in bench_figures.BIAS
        for mid, row in materials.iterrows()
    }
    bench, mae = bench_figures._benchmark_tables(materials, fits)
    assert len(bench) == 21 * len(bench_figures.BIAS)
    got = bench.set_index(["method", "material_id"])
    assert pd.isna(got.loc[("chgnet", bench_figures.NONE), "sigma_pred_mS_cm"])  # not estimable
    wide = got.loc[("chgnet", bench_figures.WIDE)]
    decades = np.log10(wide.sigma_pred_ci95_hi_mS_cm) - np.log10(wide.sigma_pred_ci95_lo_mS_cm)
    assert decades > 20  # the smoke-run-like interval the figures must clip
    assert (got.xs(bench_figures.NEGATIVE_EA, level="material_id")["Ea_eV"] < 0).all()
    assert dict(zip(mae.method, mae.n_materials_all, strict=True))["chgnet"] == 20

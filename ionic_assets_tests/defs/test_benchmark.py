"""The benchmark's MAE, computed once: the `benchmark_mae` view the figures take as input."""

import numpy as np
import pandas as pd
import pytest

from ionic_assets_tests.science.figures._data import PRED, mae_table, make_bench


def test_benchmark_mae_view_over_a_known_table():
    mae = mae_table(make_bench()).set_index("method")
    assert mae.loc["DFT", "n_materials_all"] == 5
    assert mae.loc["MACE", "n_materials_reliable"] == 2
    assert mae.loc["MACE", "mae_log10_sigma_reliable"] == pytest.approx((0.4 + 1.1) / 2)
    # independent truth: mean |log10 error| over the materials with a prediction
    dft = [abs(p[0]) for p in PRED["DFT"].values() if p is not None]
    assert mae.loc["DFT", "mae_log10_sigma_all"] == pytest.approx(np.mean(dft))


def test_benchmark_mae_view_over_duckdb_nullable_dtypes():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    assert len(mae_table(bench)) == 2

"""The benchmark's MAE, computed once: the `benchmark_mae` view the figures take as input."""

import numpy as np
import pandas as pd
import pytest

from ionic_assets.defs.benchmark.assets import _figures
from ionic_assets.science import figures
from ionic_assets_tests.science.figures._data import PRED, mae_table, make_bench


def test_benchmark_mae_view_over_a_known_table():
    mae = mae_table(make_bench()).set_index("method")
    assert mae.loc["DFT", "n_materials_all"] == 5
    assert mae.loc["MACE", "n_materials_reliable"] == 2
    assert mae.loc["MACE", "mae_log10_sigma_reliable"] == pytest.approx((0.4 + 1.1) / 2)
    # independent truth: mean |log10 error| over the materials with a prediction
    dft = [abs(p[0]) for p in PRED["DFT"].values() if p is not None]
    assert mae.loc["DFT", "mae_log10_sigma_all"] == pytest.approx(np.mean(dft))
    # MACE's 47i has a non-physical Ea: the physical set is the other six
    assert mae.loc["MACE", "n_materials_physical"] == 6
    mace = [abs(e) for m, (e, _) in PRED["MACE"].items() if m != "47i"]
    assert mae.loc["MACE", "mae_log10_sigma_physical"] == pytest.approx(np.mean(mace))
    assert mae.loc["DFT", "n_materials_physical"] == 5


def test_benchmark_mae_view_columns():
    assert list(mae_table(make_bench()).columns) == [
        "method",
        "protocol",
        "mae_log10_sigma_all",
        "n_materials_all",
        "mae_log10_sigma_reliable",
        "n_materials_reliable",
        "mae_log10_sigma_physical",
        "n_materials_physical",
    ]


def test_benchmark_mae_by_hand_three_materials():
    """a reliable and physical, b unreliable (3 of 5 T), c a non-physical Ea."""
    bench = pd.DataFrame(
        {
            "method": ["M", "M", "M"],
            "material_id": ["a", "b", "c"],
            "log10_error": [0.3, -1.2, 1.5],
            "n_reliable": [5, 3, 5],
            "n_temperatures": [5, 5, 5],
            "Ea_nonphysical": [False, False, True],
        }
    )
    mae = mae_table(bench).iloc[0]
    assert mae["n_materials_all"] == 3
    assert mae["mae_log10_sigma_all"] == pytest.approx(1.0)  # (0.3 + 1.2 + 1.5) / 3
    assert mae["n_materials_reliable"] == 2
    assert mae["mae_log10_sigma_reliable"] == pytest.approx(0.9)  # (0.3 + 1.5) / 2
    assert mae["n_materials_physical"] == 2
    assert mae["mae_log10_sigma_physical"] == pytest.approx(0.75)  # (0.3 + 1.2) / 2


def test_benchmark_mae_view_over_duckdb_nullable_dtypes():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    assert len(mae_table(bench)) == 2


def test_benchmark_figures_carry_the_smoke_note():
    bench = make_bench()
    named = _figures(bench, mae_table(bench), figures.SMOKE_NOTE)
    assert set(named) == {"parity", "log_error", "parity_DFT_vs_MACE"}
    for name, fig in named.items():
        assert figures.SMOKE_NOTE in fig.layout.title.text, name
    assert all(
        figures.SMOKE_NOTE not in f.layout.title.text
        for f in _figures(bench, mae_table(bench)).values()
    )

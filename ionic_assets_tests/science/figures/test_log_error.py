"""Fig. 3: log10 error per material and method."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ionic_assets.science import figures
from ionic_assets.science.figures import style
from ionic_assets_tests.science.figures._data import MATERIALS, PRED, data_traces, make_bench


def test_log_error_figure_orders_materials_by_sigma_exp():
    bench = make_bench()
    fig = figures.log_error_figure(bench)
    expected = [m for m, _, _ in sorted(MATERIALS, key=lambda r: r[2])]
    labels = list(fig.layout.xaxis.ticktext)
    assert [t.split("<br>")[0] for t in labels] == expected
    # log10 sigma_exp under each ID
    assert labels[0] == "47i<br>-12.0" and labels[-1] == "mdp<br>1.1"
    assert list(fig.layout.xaxis.tickvals) == list(range(len(expected)))
    # one series per method, at its material's position (small offset), y = log10 error
    mace = data_traces(fig, "MACE")[0]
    dft = data_traces(fig, "DFT")[0]
    assert len(mace.x) == 7 and len(dft.x) == 5  # DFT: 47i absent, rr5 NaN
    pos = {m: i for i, m in enumerate(expected)}
    for x, y, cd in zip(mace.x, mace.y, mace.customdata, strict=True):
        assert abs(x - pos[cd[0]]) < 0.5
        assert y == pytest.approx(PRED["MACE"][cd[0]][0])
    assert np.all(np.diff(mace.x) > 0)
    sizes = dict(zip([c[0] for c in mace.customdata], mace.marker.size, strict=True))
    assert sizes["mdp"] == figures.marker_size(5) and sizes["47i"] == figures.marker_size(0)
    # dashed zero line across the plot
    zero = [s for s in fig.layout.shapes if s.y0 == 0 and s.y1 == 0]
    assert zero and zero[0].line.dash == "dash"
    assert "mS/cm" in fig.layout.xaxis.title.text


def test_log_error_plots_the_table_s_log10_error_not_a_recomputed_one():
    bench = make_bench()
    bench["log10_error"] = bench["log10_error"] + 0.25  # the table is the one source
    mace = data_traces(figures.log_error_figure(bench), "MACE")[0]
    for y, cd in zip(mace.y, mace.customdata, strict=True):
        assert y == pytest.approx(PRED["MACE"][cd[0]][0] + 0.25)


def test_log_error_range_from_the_points_with_clipped_intervals():
    bench = make_bench()
    wide = (bench["method"] == "DFT") & (bench["material_id"] == "wyu")
    bench.loc[wide, "sigma_pred_ci95_hi_mS_cm"] = 1e40
    fig = figures.log_error_figure(bench)
    errs = bench["log10_error"].dropna()
    lo, hi = fig.layout.yaxis.range
    assert lo == pytest.approx(errs.min() - 0.6) and hi == pytest.approx(errs.max() + 0.6)
    dft = data_traces(fig, "DFT")[0]
    i = [c[0] for c in dft.customdata].index("wyu")
    assert dft.y[i] + dft.error_y.array[i] == pytest.approx(hi)
    # in decades: the interval of the prediction, shifted with it
    assert dft.error_y.arrayminus[i] == pytest.approx(0.35)
    marks = [t for t in fig.data if t.name == style.CLIPPED]
    assert len(marks) == 1 and marks[0].marker.symbol == "triangle-up"
    assert marks[0].x == (dft.x[i],) and marks[0].y[0] == pytest.approx(hi)


def test_log_error_accepts_nullable_dtypes_from_duckdb():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    fig = figures.log_error_figure(bench)
    assert isinstance(fig, go.Figure)
    fig.to_json()  # serializable

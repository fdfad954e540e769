"""Fig. 2: one method's sigma(300 K) against another's."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ionic_assets.science import figures
from ionic_assets.science.figures import style
from ionic_assets_tests.science.figures._data import MATERIALS, make_bench


def test_method_parity_figure_common_materials_only():
    fig = figures.method_parity_figure(make_bench(), "MACE", "DFT")
    fill = next(t for t in fig.data if t.name.startswith("size"))
    ring = next(t for t in fig.data if t.name.startswith("ring"))
    # DFT lacks 47i and has NaN for rr5: 5 common materials, ordered by sigma_exp
    assert list(fill.text) == ["dth", "joc", "fft", "wyu", "mdp"]
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert "MACE" in fig.layout.xaxis.title.text and "DFT" in fig.layout.yaxis.title.text
    assert "mS/cm" in fig.layout.xaxis.title.text
    assert any(t.name == "y = x" for t in fig.data)
    # fill follows MACE's n_reliable, the ring DFT's
    assert list(fill.marker.size) == [figures.marker_size(n) for n in (2, 4, 1, 5, 5)]
    assert list(ring.marker.size) == [figures.marker_size(n) + 2 for n in (1, 3, 2, 5, 5)]
    sig = {m: s for m, _, s in MATERIALS}
    assert fill.x[0] == pytest.approx(sig["dth"] * 10**-2.8)
    assert fill.y[0] == pytest.approx(sig["dth"] * 10**-3.5)


def test_method_parity_figure_without_common_materials():
    bench = make_bench()
    bench = bench[~((bench["method"] == "DFT") & bench["sigma_pred_mS_cm"].notna())]
    fig = figures.method_parity_figure(bench, "MACE", "DFT")
    assert "no material" in fig.layout.title.text


def test_method_parity_square_from_the_points_with_clipped_intervals_on_both_axes():
    bench = make_bench()
    wide = bench["material_id"] == "joc"
    bench.loc[wide, "sigma_pred_ci95_lo_mS_cm"] = 1e-30
    bench.loc[wide, "sigma_pred_ci95_hi_mS_cm"] = 1e40
    fig = figures.method_parity_figure(bench, "MACE", "DFT")
    fill = next(t for t in fig.data if t.name.startswith("size"))
    pts = np.log10(np.r_[fill.x, fill.y])
    assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.yaxis.range)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    lo, hi = fig.layout.xaxis.range
    assert pts.min() - 1.5 < lo <= pts.min() - 0.5 and pts.max() + 0.5 <= hi < pts.max() + 1.5
    i = list(fill.text).index("joc")
    assert fill.x[i] + fill.error_x.array[i] == pytest.approx(10**hi)
    assert fill.y[i] - fill.error_y.arrayminus[i] == pytest.approx(10**lo)
    marks = {t.marker.symbol: t for t in fig.data if t.name == style.CLIPPED}
    assert set(marks) == {"triangle-up", "triangle-down", "triangle-left", "triangle-right"}
    assert marks["triangle-right"].x[0] == pytest.approx(10**hi)
    assert marks["triangle-right"].y == (fill.y[i],)
    assert marks["triangle-up"].y[0] == pytest.approx(10**hi)
    assert marks["triangle-up"].x == (fill.x[i],)


def test_method_parity_accepts_nullable_dtypes_from_duckdb():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    fig = figures.method_parity_figure(bench, "MACE", "DFT")
    assert isinstance(fig, go.Figure)
    fig.to_json()  # serializable

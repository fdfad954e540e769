"""Fig. 1: predicted vs experimental sigma, a square log-log panel per method."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ionic_assets.science import figures
from ionic_assets.science.figures import style
from ionic_assets_tests.science.figures._data import (
    MATERIALS,
    PRED,
    data_traces,
    mae_table,
    make_bench,
)


def parity(bench, colors=None):
    return figures.parity_figure(bench, mae_table(bench), colors)


def test_parity_figure_panels_axes_reference_lines():
    bench = make_bench()
    fig = parity(bench)
    assert {t.name for t in data_traces(fig)} == {"MACE", "DFT"}
    # one log-log panel per method, same range on both axes
    xaxes = [fig.layout[k] for k in fig.layout if k.startswith("xaxis")]
    yaxes = [fig.layout[k] for k in fig.layout if k.startswith("yaxis")]
    assert len(xaxes) == len(yaxes) == 2
    assert all(a.type == "log" for a in xaxes + yaxes)
    assert all("mS/cm" in a.title.text for a in xaxes + yaxes)
    assert tuple(xaxes[0].range) == tuple(yaxes[0].range)
    # y = x and the +-1 decade band in each panel
    diags = [t for t in fig.data if t.name == "y = x"]
    bands = [t for t in fig.data if t.name == "±1 order of magnitude"]
    assert len(diags) == 2 and len(bands) == 2
    for d in diags:
        assert list(d.x) == list(d.y)
    for b in bands:
        assert np.allclose(np.array(b.y[:2]) * 10, b.x[:2])  # lower edge y = x / 10
        assert np.allclose(np.array(b.y[2:4]) / 10, b.x[2:4])  # upper edge y = 10 x
    # MAE of log10 sigma per method in the panel titles
    titles = " ".join(a.text for a in fig.layout.annotations)
    mace = np.mean(np.abs([e for e, _ in PRED["MACE"].values()]))
    assert f"MACE: MAE = {mace:.2f} (n = 7)" in titles
    dft = np.mean(np.abs([p[0] for p in PRED["DFT"].values() if p is not None]))
    assert f"DFT: MAE = {dft:.2f} (n = 5)" in titles
    assert "all T reliable: 0.75 (n = 2)" in titles  # MACE mdp and wyu
    mace_phys = np.mean(np.abs([e for m, (e, _) in PRED["MACE"].items() if m != "47i"]))
    assert f"physical E<sub>a</sub>: {mace_phys:.2f} (n = 6)" in titles  # 47i non-physical


def test_parity_figure_points_sizes_errors_labels_and_nan_rows():
    bench = make_bench()
    fig = parity(bench)
    dft = data_traces(fig, "DFT")[0]
    # rr5 has no DFT prediction (NaN sigma_pred): skipped, not plotted as NaN
    assert list(dft.text).count("rr5") == 0 and len(dft.x) == 5
    assert not np.isnan(np.asarray(dft.y, float)).any()
    mace = data_traces(fig, "MACE")[0]
    assert sorted(mace.text) == sorted(m for m, _, _ in MATERIALS)
    # marker size grows with n_reliable
    n_rel = {m: PRED["MACE"][m][1] for m in mace.text}
    sizes = dict(zip(mace.text, mace.marker.size, strict=True))
    order = sorted(sizes, key=lambda m: n_rel[m])
    assert [sizes[m] for m in order] == sorted(sizes.values())
    assert sizes["mdp"] > sizes["fft"] > sizes["rr5"]
    assert sizes["mdp"] == figures.marker_size(5) and sizes["rr5"] == figures.marker_size(0)
    # asymmetric 95% error bars, in data units
    i = list(mace.text).index("wyu")
    y = mace.y[i]
    assert mace.error_y.array[i] == pytest.approx(y * 10**0.45 - y)
    assert mace.error_y.arrayminus[i] == pytest.approx(y - y / 10**0.35)
    # formula in the hover data
    assert "Li7La3Zr2O12" in mace.customdata[i]


def test_parity_figure_survives_all_nan_method_and_empty_frame():
    bench = make_bench()
    bench.loc[bench["method"] == "DFT", "sigma_pred_mS_cm"] = np.nan
    bench.loc[bench["method"] == "DFT", "log10_error"] = np.nan  # as the SQL computes it
    fig = parity(bench)
    assert len(data_traces(fig, "DFT")) == 0
    assert "no plottable material" in " ".join(a.text for a in fig.layout.annotations)
    empty = parity(bench.iloc[:0])
    assert isinstance(empty, go.Figure)


def test_size_key_matches_marker_sizes():
    fig = parity(make_bench())
    key = [s for s in fig.layout.shapes if s.name and s.name.startswith("size key")]
    assert len(key) == 6  # n = 0..5 of 5 temperatures
    assert [s.x1 - s.x0 for s in key] == [figures.marker_size(n) for n in range(6)]


def test_parity_range_is_set_by_the_points_and_wide_intervals_are_clipped_with_a_mark():
    bench = make_bench()
    wide = (bench["method"] == "MACE") & (bench["material_id"] == "wyu")
    bench.loc[wide, "sigma_pred_ci95_lo_mS_cm"] = 1e-28  # the smoke run's interval
    bench.loc[wide, "sigma_pred_ci95_hi_mS_cm"] = 1e48
    fig = parity(bench)
    points = np.concatenate([np.r_[t.x, t.y] for t in data_traces(fig)])
    lo, hi = np.log10(points.min()), np.log10(points.max())
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2"):
        r = fig.layout[axis].range
        assert r[0] <= lo - 0.5 and r[1] >= hi + 0.5  # every point inside, half a decade spare
        assert r[0] > lo - 1.5 and r[1] < hi + 1.5  # and no more than a decade and a half
        assert tuple(r) == tuple(fig.layout.xaxis.range)  # the same range everywhere
    # square panels: y scaled to x one to one on equal ranges
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    assert fig.layout.yaxis.scaleratio == 1
    # the wide interval ends at the frame, a triangle on each edge says it goes on
    mace = data_traces(fig, "MACE")[0]
    i = list(mace.text).index("wyu")
    bottom, top = (10**v for v in fig.layout.yaxis.range)
    assert mace.y[i] + mace.error_y.array[i] == pytest.approx(top)
    assert mace.y[i] - mace.error_y.arrayminus[i] == pytest.approx(bottom)
    marks = [t for t in fig.data if t.name == style.CLIPPED]
    assert {t.marker.symbol for t in marks} == {"triangle-up", "triangle-down"}
    assert all(t.x == (mace.x[i],) for t in marks)
    assert sorted(t.y[0] for t in marks) == pytest.approx([bottom, top])
    assert [t.showlegend for t in marks].count(True) == 1
    assert all(t.cliponaxis is False for t in marks)  # drawn on the edge, not cut in half
    # intervals inside the frame are not marked
    assert len(marks) == 2


def test_parity_colours_follow_the_configured_methods():
    bench = make_bench()
    colors = figures.method_colors(["chgnet", "DFT", "MACE"])  # as config/methods.yaml lists
    fig = parity(bench, colors)
    assert data_traces(fig, "MACE")[0].marker.color == colors["MACE"]
    assert data_traces(fig, "DFT")[0].marker.color == colors["DFT"]
    assert colors["MACE"] != colors["DFT"]


def test_parity_accepts_nullable_dtypes_from_duckdb():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    fig = parity(bench)
    assert isinstance(fig, go.Figure)
    fig.to_json()  # serializable

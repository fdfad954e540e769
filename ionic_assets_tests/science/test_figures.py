"""Figures 1-3, the per-material Arrhenius/MSD plots, and their HTML/PNG writer."""

import logging
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ionic_assets.science import figures

KB = 8.617333262e-5
HAS_BROWSER = figures.find_browser() is not None
needs_browser = pytest.mark.skipif(
    not HAS_BROWSER,
    reason="no Chrome/Chromium for kaleido PNG export (apt-get install -y chromium)",
)

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
                }
            )
    # the lead's SQL orders by method, sigma_exp; shuffle to prove the figures sort themselves
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


# ----------------------------------------------------------------------------- Fig. 1


def test_parity_figure_panels_axes_reference_lines():
    bench = make_bench()
    fig = figures.parity_figure(bench)
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


def test_parity_figure_points_sizes_errors_labels_and_nan_rows():
    bench = make_bench()
    fig = figures.parity_figure(bench)
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
    fig = figures.parity_figure(bench)
    assert len(data_traces(fig, "DFT")) == 0
    assert "no plottable material" in " ".join(a.text for a in fig.layout.annotations)
    empty = figures.parity_figure(bench.iloc[:0])
    assert isinstance(empty, go.Figure)


def test_mae_by_method_matches_benchmark_mae_view():
    mae = figures.mae_by_method(make_bench()).set_index("method")
    assert mae.loc["DFT", "n_materials_all"] == 5
    assert mae.loc["MACE", "n_materials_reliable"] == 2
    assert mae.loc["MACE", "mae_log10_sigma_reliable"] == pytest.approx((0.4 + 1.1) / 2)


def test_figures_accept_nullable_dtypes_from_duckdb():
    bench = make_bench().convert_dtypes()  # Int64 / Float64 / string with <NA>, as DuckDB gives
    bench.loc[0, "n_reliable"] = pd.NA
    for fig in (
        figures.parity_figure(bench),
        figures.method_parity_figure(bench, "MACE", "DFT"),
        figures.log_error_figure(bench),
    ):
        assert isinstance(fig, go.Figure)
        fig.to_json()  # serializable
    assert len(figures.mae_by_method(bench)) == 2
    points, fit = make_points_and_fit()
    points = points.convert_dtypes()
    points.loc[1, "reliable"] = pd.NA
    figures.arrhenius_figure(points, fit, "wyu", "MACE").to_json()
    figures.msd_figure(make_curves().convert_dtypes(), 20.0).to_json()


def test_size_key_matches_marker_sizes():
    fig = figures.parity_figure(make_bench())
    key = [s for s in fig.layout.shapes if s.name and s.name.startswith("size key")]
    assert len(key) == 6  # n = 0..5 of 5 temperatures
    assert [s.x1 - s.x0 for s in key] == [figures.marker_size(n) for n in range(6)]


# ----------------------------------------------------------------------------- Fig. 2


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


# ----------------------------------------------------------------------------- Fig. 3


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


# ----------------------------------------------------------------------------- Arrhenius


def test_arrhenius_figure_points_fit_and_extrapolation():
    points, fit = make_points_and_fit()
    fig = figures.arrhenius_figure(points, fit, "wyu", "MACE")
    filled = next(t for t in fig.data if t.name == "MSD ≥ threshold")
    hollow = next(t for t in fig.data if t.name == "MSD < threshold")
    assert filled.marker.symbol == "circle" and hollow.marker.symbol == "circle-open"
    assert len(filled.x) == 4 and hollow.x == (1000.0 / 800.0,)
    assert fig.layout.yaxis.type == "log"
    assert "cm²/s" in fig.layout.yaxis.title.text and "1/K" in fig.layout.xaxis.title.text
    # error bars: 95% CI
    assert filled.error_y.array[0] == pytest.approx(filled.y[0] * 0.35)
    assert filled.error_y.arrayminus[0] == pytest.approx(filled.y[0] * 0.3)
    # fitted line reaches 300 K (1000/T = 3.33) and matches D0 exp(-Ea/kT)
    line = next(t for t in fig.data if t.name.startswith("fit"))
    assert max(line.x) == pytest.approx(1000 / 300)
    assert min(line.x) == pytest.approx(1000 / 1200)
    x = np.asarray(line.x)
    assert np.allclose(line.y, fit["D0_cm2_s"] * np.exp(-fit["Ea_eV"] * x / (1000 * KB)))
    star = next(t for t in fig.data if t.name.startswith("D(300 K)"))
    assert star.x == (1000 / 300,) and star.y[0] == pytest.approx(fit["D300_cm2_s"])
    assert star.error_y.array[0] == pytest.approx(2 * fit["D300_cm2_s"])
    assert star.error_y.arrayminus[0] == pytest.approx(0.75 * fit["D300_cm2_s"])
    assert "wyu" in fig.layout.title.text and "0.310 eV" in fig.layout.title.text
    lo, hi = fig.layout.yaxis.range
    assert lo <= math.log10(fit["D300_ci95_lo_cm2_s"]) and hi >= math.log10(points.D_cm2_s.max())


def test_arrhenius_figure_without_fit_and_with_nan_points():
    points, _ = make_points_and_fit()
    points.loc[0, "D_cm2_s"] = np.nan  # not estimable at 800 K
    fig = figures.arrhenius_figure(points, None, "rr5", "DFT")
    assert not any(t.name and t.name.startswith(("fit", "D(300")) for t in fig.data)
    assert "not estimable" in fig.layout.title.text
    n_points = sum(len(t.x) for t in fig.data if t.name and t.name.startswith("MSD"))
    assert n_points == 4
    # a fit given as D300 and Ea only still draws the line
    _, fit = make_points_and_fit()
    fit.pop("D0_cm2_s")
    line = next(
        t for t in figures.arrhenius_figure(points, fit, "x", "y").data if t.name.startswith("fit")
    )
    assert line.y[0] == pytest.approx(fit["D300_cm2_s"])


# ----------------------------------------------------------------------------- MSD


def test_msd_figure_lines_per_temperature_and_threshold():
    curves = make_curves()
    curves.loc[3, "msd_A2"] = np.nan
    fig = figures.msd_figure(curves, 20.0, "wyu", "MACE")
    lines = [t for t in fig.data if t.name.endswith("K") or "below" in t.name]
    assert [t.name.split()[0] for t in lines] == ["800", "900", "1000", "1100", "1200"]
    assert len(lines[0].x) == 95  # the NaN row dropped
    threshold = next(t for t in fig.data if t.name.startswith("threshold"))
    assert set(threshold.y) == {20.0} and threshold.line.dash == "dash"
    assert threshold.x[-1] == pytest.approx(47.5)
    # 800 K stays below 20 Å^2 here, 1200 K passes
    assert "below threshold" in lines[0].name and "below" not in lines[-1].name
    assert "ps" in fig.layout.xaxis.title.text and "Å²" in fig.layout.yaxis.title.text
    assert "wyu" in fig.layout.title.text


# ----------------------------------------------------------------------------- writing


def test_write_figure_html_only_is_self_contained(tmp_path, monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_FIGURE_PNG", "0")
    out = figures.write_figure(figures.log_error_figure(make_bench()), tmp_path / "sub" / "fig3")
    assert out == {"html": str(tmp_path / "sub" / "fig3.html"), "png": None}
    html = (tmp_path / "sub" / "fig3.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # no CDN (or any external) script tag
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is inline
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["fig3.html"]  # no temp file left
    assert (tmp_path / "sub" / "fig3.html").stat().st_mode & 0o777 == 0o644  # webserver can read


def test_write_figure_without_browser_warns_and_writes_html(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(figures, "find_browser", lambda: None)
    with caplog.at_level(logging.WARNING, logger=figures.__name__):
        out = figures.write_figure(figures.msd_figure(make_curves()), tmp_path / "msd")
    assert out["png"] is None and os.path.exists(out["html"])
    assert "No Chrome/Chromium" in caplog.text
    assert figures.png_markdown(out["png"]).startswith("_no PNG")


def test_find_browser_ignores_a_wrong_browser_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "nope"))
    found = figures.find_browser()
    assert found is None or os.access(found, os.X_OK)
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert figures.find_browser() == str(fake)


def test_a_hanging_browser_times_out_without_png(tmp_path, monkeypatch):
    fake = tmp_path / "hanging-chrome"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(figures, "find_browser", lambda: str(fake))
    t0 = time.monotonic()
    out = figures.write_figure(figures.msd_figure(make_curves()), tmp_path / "msd", timeout_s=1.5)
    assert time.monotonic() - t0 < 15
    assert out["png"] is None and os.path.exists(out["html"])
    assert not (tmp_path / "msd.png").exists()


@pytest.mark.slow
@needs_browser
def test_write_figures_png_with_chromium(tmp_path):
    bench = make_bench()
    points, fit = make_points_and_fit()
    items = [
        (figures.parity_figure(bench), tmp_path / "parity"),
        (figures.method_parity_figure(bench, "MACE", "DFT"), tmp_path / "parity_MACE_vs_DFT"),
        (figures.log_error_figure(bench), tmp_path / "log_error"),
        (figures.arrhenius_figure(points, fit, "wyu", "MACE"), tmp_path / "wyu" / "arrhenius"),
        (figures.msd_figure(make_curves(), 20.0, "wyu", "MACE"), tmp_path / "wyu" / "msd"),
    ]
    out = figures.write_figures(items, png=True)
    for entry in out:
        assert entry["png"] is not None, entry
        assert Path(entry["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not re.search(r"<script[^>]*\bsrc=", Path(entry["html"]).read_text())
    single = figures.write_figure(items[-1][0], tmp_path / "single", png=True, scale=1)
    data = Path(single["png"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 900  # width from the figure's export size
    assert figures.png_markdown(single["png"]).startswith("![single](data:image/png;base64,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

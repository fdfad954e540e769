"""The per-material Arrhenius figure: points, fit, extrapolation and the fit's diagnostics."""

import math

import numpy as np
import pandas as pd
import pytest

from ionic_assets.science import arrhenius, figures
from ionic_assets.science.figures import style
from ionic_assets_tests.science.figures._data import KB, make_points_and_fit


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


def test_arrhenius_figure_accepts_nullable_dtypes_from_duckdb():
    points, fit = make_points_and_fit()
    points = points.convert_dtypes()
    points.loc[1, "reliable"] = pd.NA
    figures.arrhenius_figure(points, fit, "wyu", "MACE").to_json()


def test_arrhenius_figure_of_a_real_fit_and_its_clipped_intervals():
    points, _ = make_points_and_fit()
    fit = arrhenius.fit_arrhenius(
        points["temperature_K"], [np.array([d]) for d in points["D_cm2_s"]], n_li=8, volume_A3=600.0
    )  # point estimates: the star has no interval
    points.loc[2, "D_ci95_hi_cm2_s"] = 1.0  # a hopeless interval at 1000 K
    fig = figures.arrhenius_figure(points, fit, "wyu", "MACE")
    star = next(t for t in fig.data if t.name.startswith("D(300 K)"))
    assert star.y[0] == pytest.approx(fit.D300_cm2_s)
    assert fig.layout.yaxis.range[1] < 0  # set by the points, not the interval up to 1 cm²/s
    filled = next(t for t in fig.data if t.name == "MSD ≥ threshold")
    i = list(filled.x).index(1.0)
    assert filled.y[i] + filled.error_y.array[i] == pytest.approx(10 ** fig.layout.yaxis.range[1])
    mark = next(t for t in fig.data if t.name == style.CLIPPED)
    assert mark.x == (1.0,) and mark.marker.symbol == "triangle-up"


def diagnosed_fit(**changes):
    """The fit of `make_points_and_fit` with the diagnostics `arrhenius_fits` carries."""
    _, fit = make_points_and_fit()
    fit |= {
        "temperatures_fit_K": [800.0, 900.0, 1000.0, 1100.0, 1200.0],
        "residuals_log10_D": [0.04, -0.03, 0.02, -0.01, 0.01],
        "curvature_K2": 2.1e5,
        "curvature_ci95_lo_K2": 0.4e5,
        "curvature_ci95_hi_K2": 3.9e5,
        "non_arrhenius": True,
        "loo_delta_log10_sigma300": [0.42, -0.05, 0.03, -0.02, -0.12],
        "Ea_nonphysical": False,
        "Ea_ci95_lo_eV": 0.25,
        "Ea_ci95_hi_eV": 0.37,
    }
    return fit | changes


def test_arrhenius_figure_draws_residuals_leave_one_out_and_curvature():
    points, _ = make_points_and_fit()
    fit = diagnosed_fit()
    fig = figures.arrhenius_figure(points, fit, "wyu", "MACE")
    res = next(t for t in fig.data if t.name.startswith("residual"))
    loo = next(t for t in fig.data if t.name.startswith("Δ log10 σ(300 K)"))
    x = [1000.0 / t for t in fit["temperatures_fit_K"]]
    assert res.yaxis == "y2" and loo.yaxis == "y2"  # the panel below
    assert list(res.x) == pytest.approx(x) and list(res.y) == fit["residuals_log10_D"]
    assert list(loo.x) == pytest.approx(x) and list(loo.y) == fit["loo_delta_log10_sigma300"]
    assert list(loo.text)[0] == "+0.42"  # 800 K drives the extrapolation
    lo, hi = fig.layout.yaxis2.range
    assert lo <= -0.12 and hi >= 0.42 and lo < 0 < hi
    assert "1/K" in fig.layout.xaxis2.title.text
    # curvature with its interval, and the flag in the title
    note = " ".join(a.text for a in fig.layout.annotations)
    assert "curvature c = 2.1e+05 K²" in note and "excludes 0: non-Arrhenius" in note
    assert "non-Arrhenius" in fig.layout.title.text
    assert "non-physical" not in fig.layout.title.text
    # the extrapolation itself is as without diagnostics
    assert any(t.name.startswith("D(300 K)") for t in fig.data)


def test_arrhenius_figure_without_curvature_flag_says_the_interval_includes_zero():
    points, _ = make_points_and_fit()
    fit = diagnosed_fit(non_arrhenius=False, curvature_ci95_lo_K2=-1e5)
    fig = figures.arrhenius_figure(points, fit, "wyu", "MACE")
    assert "includes 0" in " ".join(a.text for a in fig.layout.annotations)
    assert "⚠" not in fig.layout.title.text


def test_arrhenius_figure_flags_a_non_physical_Ea_and_does_not_extrapolate():
    points, _ = make_points_and_fit()
    ea = -0.30  # D rising towards 300 K, as in the smoke run
    points["D_cm2_s"] = 2e-6 * np.exp(-ea / (KB * points["temperature_K"]))
    fit = diagnosed_fit(
        Ea_eV=ea, D0_cm2_s=2e-6, D300_cm2_s=2e-6 * math.exp(-ea / (KB * 300)),
        Ea_nonphysical=True, Ea_ci95_lo_eV=-0.5, Ea_ci95_hi_eV=0.05, non_arrhenius=False,
    )  # fmt: skip
    fig = figures.arrhenius_figure(points, fit, "gvd", "chgnet")
    title = fig.layout.title.text
    assert "non-physical E<sub>a</sub> (95% CI -0.50 – 0.05 eV)" in title
    assert "not extrapolated to 300 K" in title
    line = next(t for t in fig.data if t.name.startswith("fit"))
    assert max(line.x) == pytest.approx(1000 / 800)  # stops at the lowest fitted temperature
    assert "not extrapolated" in line.name
    assert not any(t.name.startswith("D(300 K)") for t in fig.data)
    assert fig.layout.yaxis.range[1] < math.log10(fit["D300_cm2_s"])  # nothing drawn there

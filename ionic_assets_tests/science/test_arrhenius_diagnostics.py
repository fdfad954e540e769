"""Arrhenius diagnostics on synthetic sets of known curvature (`science.synthetic`): residuals,
the curvature test, leave-one-temperature-out and the non-physical Ea flag."""

import numpy as np
import pytest

from ionic_assets.science.arrhenius import KB_EV_K, fit_arrhenius
from ionic_assets.science.synthetic import curved_arrhenius_samples, curved_log10_D

TEMPS = [700.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0]
CELL = {"n_li": 10, "volume_A3": 1000.0}


def _fits(curvature_K2, n_seeds=60):
    return [
        fit_arrhenius(
            TEMPS,
            curved_arrhenius_samples(TEMPS, curvature_K2=curvature_K2, seed=s),
            seed=s,
            n_draws=2000,
            **CELL,
        )  # fmt: skip
        for s in range(n_seeds)
    ]


@pytest.mark.parametrize("curvature_K2", [0.0, 1e6])
def test_curvature_interval_covers_the_true_curvature(curvature_K2):
    fits = _fits(curvature_K2)
    covered = [lo <= curvature_K2 <= hi for lo, hi in (f.curvature_ci95_K2 for f in fits)]
    assert 0.85 <= np.mean(covered) <= 1.0, np.mean(covered)  # 60 sets: ~95% +- 3%
    spread = np.std([f.curvature_K2 for f in fits])
    assert abs(np.mean([f.curvature_K2 for f in fits]) - curvature_K2) < spread / 2


def test_non_arrhenius_flag_false_positive_rate_and_power():
    straight = np.mean([f.non_arrhenius for f in _fits(0.0)])
    curved = np.mean([f.non_arrhenius for f in _fits(1e6)])
    assert straight <= 0.15 and curved >= 0.9, (straight, curved)


def test_residuals_are_observed_minus_fitted():
    samples = [np.full(10, 10.0 ** v) for v in curved_log10_D(TEMPS, log10_D0=-3, Ea_eV=0.3,
                                                              curvature_K2=0.0)]  # fmt: skip
    fit = fit_arrhenius(TEMPS, samples, **CELL)
    assert np.allclose(fit.residuals_log10_D, 0.0, atol=1e-9)
    assert fit.curvature_K2 == pytest.approx(0.0, abs=1e-3)
    bumped = [s * (10 if i == 2 else 1) for i, s in enumerate(samples)]
    residuals = fit_arrhenius(TEMPS, bumped, **CELL).residuals_log10_D
    assert int(np.argmax(residuals)) == 2 and len(residuals) == len(TEMPS)


def test_leave_one_out_shows_the_temperature_that_drives_the_extrapolation():
    samples = curved_arrhenius_samples(TEMPS, sd_log10_D=0.01, seed=1)
    samples[0] = samples[0] * 10  # the coldest point, the lever arm towards 300 K, is off
    fit = fit_arrhenius(TEMPS, samples, **CELL)
    loo = np.abs(fit.loo_delta_log10_sigma300)
    assert int(np.argmax(loo)) == 0 and loo[0] > 3 * np.max(loo[1:])
    row = fit.as_row()
    assert len(row["loo_delta_log10_sigma300"]) == len(row["temperatures_fit_K"])


def test_two_temperatures_have_no_curvature_or_leave_one_out():
    fit = fit_arrhenius([800.0, 1000.0], [np.array([1e-6]), np.array([1e-5])], **CELL)
    row = fit.as_row()
    assert row["curvature_K2"] is None and row["non_arrhenius"] is None
    assert row["loo_delta_log10_sigma300"] is None and len(row["residuals_log10_D"]) == 2


def test_negative_activation_energy_is_flagged():
    D = [np.array([1e-5 * np.exp(0.3 / (KB_EV_K * t))]) for t in (800.0, 1000.0, 1200.0)]
    fit = fit_arrhenius([800.0, 1000.0, 1200.0], D, **CELL)
    assert fit.Ea_eV == pytest.approx(-0.3) and fit.as_row()["Ea_nonphysical"] is True
    good = fit_arrhenius(TEMPS, curved_arrhenius_samples(TEMPS), **CELL)
    assert good.as_row()["Ea_nonphysical"] is False

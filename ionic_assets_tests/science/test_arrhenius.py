"""Arrhenius fits: the exact two-point case by hand, recovery and coverage on synthetic data."""

import math

import numpy as np
import pytest

from ionic_assets.science.arrhenius import fit_arrhenius
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.errors import InputError, NotEstimable

KB_EV_K = 8.617333262e-5  # CODATA 2018, eV/K
CELL = {"n_li": 24, "volume_A3": 1200.0}
TEMPS_K = [800.0, 900.0, 1000.0, 1100.0, 1200.0]


def test_two_temperatures_are_fitted_exactly():
    # D(800 K) = 1e-5, D(1000 K) = 4e-5 cm^2/s, so with 1/800 - 1/1000 = 2.5e-4 1/K:
    #   Ea = kB ln 4 / 2.5e-4 = 8.617333262e-5 x 1.3862944 / 2.5e-4 = 0.477845 eV
    #   ln D0 = ln D(800) + ln 4 x (1/800) / 2.5e-4  ->  D0 = 1e-5 x 4^5 = 1.024e-2 cm^2/s
    #   D(300) = 1e-5 x 4^((1/800 - 1/300) / 2.5e-4) = 1e-5 x 4^(-25/3) = 9.6132e-11 cm^2/s
    fit = fit_arrhenius([800.0, 1000.0], [np.array([1e-5]), np.array([4e-5])], **CELL)
    assert fit.Ea_eV == pytest.approx(KB_EV_K * math.log(4) / 2.5e-4, rel=1e-9)
    assert fit.Ea_eV == pytest.approx(0.477845, rel=1e-5)
    assert fit.D0_cm2_s == pytest.approx(1.024e-2, rel=1e-9)
    assert fit.D300_cm2_s == pytest.approx(1e-5 * 4 ** (-25 / 3), rel=1e-9)
    assert fit.D300_cm2_s == pytest.approx(9.6132e-11, rel=1e-4)
    assert fit.D300_ci95_cm2_s == pytest.approx((fit.D300_cm2_s, fit.D300_cm2_s))  # no spread
    sigma = nernst_einstein_sigma_mS_cm(fit.D300_cm2_s, 24, 1200.0, 300.0)
    assert fit.sigma300_mS_cm == pytest.approx(sigma, rel=1e-12)
    assert fit.temperatures_K == (800.0, 1000.0) and fit.excluded == {}


def synthetic_samples(rng, Ea_eV=0.35, D0=2e-3, rel_sd=0.05, n=1000):
    """Per-temperature lognormal posteriors whose centres scatter around the true line."""
    samples = []
    for T in TEMPS_K:
        centre = math.log(D0) - Ea_eV / (KB_EV_K * T) + rng.normal(0, rel_sd)
        samples.append(np.exp(centre + rng.normal(0, rel_sd, size=n)))
    return samples


def test_recovers_known_Ea_and_D0():
    fit = fit_arrhenius(TEMPS_K, synthetic_samples(np.random.default_rng(1)), **CELL)
    assert fit.Ea_eV == pytest.approx(0.35, abs=0.03)
    assert fit.Ea_ci95_eV[0] < fit.Ea_eV < fit.Ea_ci95_eV[1]
    assert fit.D0_cm2_s == pytest.approx(2e-3, rel=0.5)
    true_D300 = 2e-3 * math.exp(-0.35 / (KB_EV_K * 300))
    lo, hi = fit.D300_ci95_cm2_s
    assert lo < true_D300 < hi and lo < fit.D300_cm2_s < hi
    assert fit.sigma300_ci95_mS_cm[0] < fit.sigma300_mS_cm < fit.sigma300_ci95_mS_cm[1]


def test_interval_coverage_over_repeated_experiments():
    rng = np.random.default_rng(7)
    true_D300 = 2e-3 * math.exp(-0.35 / (KB_EV_K * 300))
    Ea, ea_hits, d300_hits = [], 0, 0
    for seed in range(200):
        fit = fit_arrhenius(TEMPS_K, synthetic_samples(rng), **CELL, n_draws=2000, seed=seed)
        Ea.append(fit.Ea_eV)
        ea_hits += fit.Ea_ci95_eV[0] <= 0.35 <= fit.Ea_ci95_eV[1]
        d300_hits += fit.D300_ci95_cm2_s[0] <= true_D300 <= fit.D300_ci95_cm2_s[1]
    assert np.mean(Ea) == pytest.approx(0.35, rel=0.01)
    assert 0.90 <= ea_hits / 200 <= 0.99
    assert 0.90 <= d300_hits / 200 <= 0.99


def test_temperature_whose_D_reaches_zero_is_excluded_with_reason():
    rng = np.random.default_rng(3)
    samples = synthetic_samples(rng)
    samples[0] = rng.normal(1e-9, 1e-8, size=1000)  # 800 K: no resolved diffusion
    fit = fit_arrhenius(TEMPS_K, samples, **CELL)
    assert fit.temperatures_K == tuple(TEMPS_K[1:])
    assert "<= 0" in fit.excluded[800.0]
    assert "800" in fit.as_row()["excluded_json"]
    assert np.isfinite([fit.Ea_eV, fit.D300_cm2_s, *fit.sigma300_ci95_mS_cm]).all()


def test_a_few_non_positive_samples_are_dropped_not_excluded():
    samples = synthetic_samples(np.random.default_rng(4))
    samples[2][:10] = -1e-7  # 1% of the samples
    fit = fit_arrhenius(TEMPS_K, samples, **CELL)
    assert fit.excluded == {} and np.isfinite(fit.Ea_ci95_eV).all()


def test_fewer_than_two_temperatures_is_not_estimable():
    with pytest.raises(NotEstimable, match="fewer than 2"):
        fit_arrhenius([], [], n_li=0, volume_A3=0.0)
    with pytest.raises(NotEstimable, match="fewer than 2"):
        fit_arrhenius([900.0], [np.array([1e-5])], **CELL)
    with pytest.raises(NotEstimable, match="800 K: .*<= 0"):
        fit_arrhenius([800.0, 900.0], [np.array([0.0]), np.array([1e-5])], **CELL)
    with pytest.raises(NotEstimable, match="distinct"):
        fit_arrhenius([900.0, 900.0], [np.array([1e-5]), np.array([2e-5])], **CELL)


@pytest.mark.parametrize(
    ("temps", "samples", "cell"),
    [
        ([800.0, 900.0], [np.array([1e-5])], CELL),
        ([800.0, -900.0], [np.array([1e-5]), np.array([2e-5])], CELL),
        ([800.0, 900.0], [np.array([1e-5]), np.array([np.nan])], CELL),
        ([800.0, 900.0], [np.array([1e-5]), np.array([])], CELL),
        ([800.0, 900.0], [np.array([1e-5]), np.array([2e-5])], {"n_li": 0, "volume_A3": 1.0}),
    ],
)
def test_bad_input(temps, samples, cell):
    with pytest.raises(InputError):
        fit_arrhenius(temps, samples, **cell)


def test_row_has_the_warehouse_columns():
    row = fit_arrhenius(TEMPS_K, synthetic_samples(np.random.default_rng(5)), **CELL).as_row()
    for name in ("Ea_eV", "Ea_ci95_lo_eV", "Ea_ci95_hi_eV", "D0_cm2_s", "D300_cm2_s",
                 "D300_ci95_lo_cm2_s", "D300_ci95_hi_cm2_s", "sigma300_mS_cm",
                 "sigma300_ci95_lo_mS_cm", "sigma300_ci95_hi_mS_cm"):  # fmt: skip
        assert isinstance(row[name], float)

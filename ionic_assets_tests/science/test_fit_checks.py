"""The OLS check of kinisi's slope: healthy fits agree, a slope off by a large factor does not."""

import dataclasses

import numpy as np
import pytest

from ionic_assets.science.diffusion import (
    CM2_S_PER_A2_PS,
    OLS_AGREEMENT_FACTOR,
    DiffusionSettings,
    estimate_diffusion,
    ols_agrees,
    ols_D_cm2_s,
)
from ionic_assets.science.synthetic import brownian_trajectory

SETTINGS = DiffusionSettings(n_samples=200, n_burn=200)


def test_ols_slope_of_an_exact_line():
    dt = np.linspace(0.0, 10.0, 50)
    msd = 6 * 0.2 * dt + 1.5  # D = 0.2 A^2/ps
    assert ols_D_cm2_s(dt, msd, fit_start_ps=3.0) == pytest.approx(0.2 * CM2_S_PER_A2_PS)
    bent = np.where(dt < 3.0, 100.0, msd)  # points before the window do not count
    assert ols_D_cm2_s(dt, bent, fit_start_ps=3.0) == pytest.approx(0.2 * CM2_S_PER_A2_PS)


@pytest.mark.slow
def test_kinisi_and_ols_agree_on_brownian_li():
    ratios = []
    for seed in range(6):
        traj = brownian_trajectory(seed=seed, n_frames=400, n_li=32, frame_interval_ps=0.25)
        e = estimate_diffusion(traj, equilibration_ps=0.0, settings=SETTINGS, seed=seed)
        ratios.append(e.D_cm2_s / e.D_ols_cm2_s)
        assert e.ols_agrees
    # healthy fits agree far better than the stated factor
    assert max(abs(np.log(ratios))) < np.log(OLS_AGREEMENT_FACTOR) / 3, ratios


@pytest.mark.parametrize("factor", [1000.0, 1 / 1000.0, 4.0])
def test_a_slope_off_by_a_large_factor_is_flagged(factor):
    traj = brownian_trajectory(seed=1, n_frames=400, n_li=32, frame_interval_ps=0.25)
    e = estimate_diffusion(traj, equilibration_ps=0.0, settings=SETTINGS, seed=1)
    wrong = dataclasses.replace(e, D_cm2_s=e.D_cm2_s * factor)  # what kinisi PR 222 reports
    assert not wrong.ols_agrees


def test_non_positive_slopes_never_agree():
    assert not ols_agrees(1e-5, -1e-6) and not ols_agrees(0.0, 1e-5)
    assert ols_agrees(1e-5, 1e-5 * OLS_AGREEMENT_FACTOR)

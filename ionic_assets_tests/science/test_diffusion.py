"""Diffusion estimates: accuracy and interval coverage on Brownian Li of known D, and bad input."""

import dataclasses

import numpy as np
import pytest

from ionic_assets.science.diffusion import (
    DEFAULT_SETTINGS,
    PAPER_SETTINGS,
    estimate_diffusion,
    named_settings,
)
from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.synthetic import brownian_trajectory

TRUE_D = 1e-5  # cm^2/s = 0.1 A^2/ps
N_SEEDS = 20
# 100 ps runs like the paper's, 5 ps discarded; fewer frames and Li than the full benchmark.
SMALL = {"n_frames": 400, "n_li": 64, "frame_interval_ps": 0.25, "D_cm2_s": TRUE_D}


@pytest.fixture(scope="module")
def estimates():
    return [
        estimate_diffusion(brownian_trajectory(seed=s, **SMALL), equilibration_ps=5.0, seed=s)
        for s in range(N_SEEDS)
    ]


@pytest.mark.slow
def test_recovers_known_D_on_average(estimates):
    ratios = np.array([e.D_cm2_s for e in estimates]) / TRUE_D
    assert abs(ratios.mean() - 1) < 0.05, ratios


@pytest.mark.slow
def test_95_interval_covers_true_D_in_at_least_90_percent_of_seeds(estimates):
    covered = [lo <= TRUE_D <= hi for lo, hi in (e.D_ci95_cm2_s for e in estimates)]
    assert np.mean(covered) >= 0.9, [e.D_ci95_cm2_s for e in estimates]


@pytest.mark.slow
def test_estimate_contents(estimates):
    est = estimates[0]
    assert est.n_frames == 380 and est.n_li == 64  # frames from 5 ps on
    assert est.D_ci95_cm2_s[0] < est.D_cm2_s < est.D_ci95_cm2_s[1]
    assert len(est.D_samples_cm2_s) == DEFAULT_SETTINGS.n_returned_samples
    assert len(est.msd_dt_ps) == len(est.msd_A2) == len(est.msd_std_A2)
    assert np.all(np.diff(est.msd_dt_ps) > 0) and est.msd_dt_ps[-1] == pytest.approx(94.75)
    assert est.msd_max_A2 == est.msd_A2.max()
    assert est.msd_max_A2 == pytest.approx(6 * 0.1 * 94.75, rel=0.2)  # 6 D t, D in A^2/ps
    assert est.provenance["kinisi_version"] == "2.0.1"
    assert est.provenance["settings"]["n_time_intervals"] == 200


def test_msd_points_match_a_direct_calculation_at_their_labelled_lags():
    # 0.05 ps frames: kinisi's own lag bookkeeping truncates dt / 0.05 ps for ~5% of the lags
    traj = brownian_trajectory(seed=3, n_frames=300, n_li=8, frame_interval_ps=0.05)
    est = estimate_diffusion(traj, equilibration_ps=0.0)
    li = traj.positions_A[:, :8]
    for dt_ps, msd in zip(est.msd_dt_ps, est.msd_A2, strict=True):
        lag = round(dt_ps / 0.05)
        direct = np.mean(np.sum((li[lag:] - li[:-lag]) ** 2, axis=-1))
        assert msd == pytest.approx(direct, rel=1e-9), dt_ps


def test_same_seed_same_samples_and_global_rng_untouched():
    traj = brownian_trajectory(seed=1, n_frames=120, n_li=16, frame_interval_ps=0.5)
    np.random.seed(123)
    first = estimate_diffusion(traj, equilibration_ps=0.0, seed=11)
    after = np.random.random()
    np.random.seed(123)
    assert np.random.random() == after  # kinisi's reseeding of numpy did not leak out
    second = estimate_diffusion(traj, equilibration_ps=0.0, seed=11)
    assert np.array_equal(first.D_samples_cm2_s, second.D_samples_cm2_s)


def test_paper_settings_use_every_time_interval():
    traj = brownian_trajectory(seed=2, n_frames=100, n_li=16, frame_interval_ps=0.5)
    est = estimate_diffusion(traj, equilibration_ps=0.0, settings=named_settings("paper"))
    assert len(est.msd_dt_ps) == 99 and est.provenance["settings"]["n_time_intervals"] is None
    assert named_settings("paper") is PAPER_SETTINGS
    assert 0.5 * TRUE_D < est.D_cm2_s < 2 * TRUE_D


def _tiny(**changes):
    traj = brownian_trajectory(seed=0, n_frames=60, n_li=4, frame_interval_ps=0.5)
    return dataclasses.replace(traj, **changes)


@pytest.mark.parametrize(
    ("changes", "equilibration_ps", "message"),
    [
        ({"numbers": np.full(54, 8)}, 0.0, "no Li atoms"),
        ({"time_ps": np.r_[0.0, 0.5, 0.4, np.arange(3, 60) * 0.5]}, 0.0, "strictly increasing"),
        ({"time_ps": np.r_[np.arange(30) * 0.5, 20 + np.arange(30) * 0.25]}, 0.0, "evenly"),
        ({}, 29.5, "shorter than the 29.5 ps run"),
        ({}, -1.0, "must be >= 0"),
    ],
)
def test_bad_input_is_refused_with_one_line(changes, equilibration_ps, message):
    with pytest.raises(InputError, match=message) as info:
        estimate_diffusion(_tiny(**changes), equilibration_ps=equilibration_ps)
    assert "\n" not in str(info.value)


def test_too_short_after_equilibration_is_not_estimable():
    with pytest.raises(NotEstimable, match="at least 10 are needed"):
        estimate_diffusion(_tiny(), equilibration_ps=25.0)


def test_vibrating_li_give_a_small_positive_D_and_a_small_msd():
    traj = _tiny()
    sites = np.repeat(traj.positions_A[:1], traj.n_frames, axis=0)
    noise = np.random.default_rng(0).normal(0.0, 0.1, sites.shape)
    vibrating = dataclasses.replace(traj, positions_A=sites + noise)
    est = estimate_diffusion(vibrating, equilibration_ps=0.0)
    assert est.D_ci95_cm2_s[0] > 0 and est.D_ci95_cm2_s[1] < 0.01 * TRUE_D
    assert est.msd_max_A2 < 0.2  # far below the paper's 20 A^2 reliability threshold


def test_frozen_li_are_not_estimable():
    traj = _tiny()
    frozen = np.repeat(traj.positions_A[:1], traj.n_frames, axis=0)
    with pytest.raises(NotEstimable, match="do not move"):
        estimate_diffusion(dataclasses.replace(traj, positions_A=frozen), equilibration_ps=0.0)


def test_unknown_settings_and_element():
    with pytest.raises(InputError, match="unknown"):
        named_settings("fast")
    with pytest.raises(InputError, match="no Na atoms"):
        estimate_diffusion(_tiny(), equilibration_ps=0.0, element="Na")

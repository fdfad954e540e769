"""Seed replicas: the combined estimate and its consistency test against a known answer."""

import dataclasses

import numpy as np
import pytest

from ionic_assets.science.diffusion import DiffusionSettings
from ionic_assets.science.replicas import combine_replicas
from ionic_assets.science.synthetic import brownian_replicas
from ionic_assets.science.transport import analyze_replicas

TRUE = 10.0


def _replica_posteriors(rng, n, spread=1.0):
    """Each replica's ln estimate errs by its own standard error (5-20%, times `spread`), and
    its posterior is log-normal with that standard error around the estimate."""
    se = rng.uniform(0.05, 0.2, size=n)
    estimates = rng.normal(np.log(TRUE), spread * se)
    return [np.exp(rng.normal(e, s, 400)) for e, s in zip(estimates, se, strict=True)]


@pytest.mark.parametrize("n", [2, 3, 5])
def test_combined_interval_covers_95_percent_when_intervals_are_honest(n):
    rng = np.random.default_rng(n)
    results = [combine_replicas(_replica_posteriors(rng, n), seed=k) for k in range(1000)]
    coverage = np.mean([lo <= TRUE <= hi for lo, hi in (c.ci95 for c in results)])
    consistent = np.mean([c.consistent for c in results])
    # 1000 sets: binomial sd 0.7%; DerSimonian-Laird is slightly conservative (tau^2 >= 0).
    assert 0.93 <= coverage <= 0.985, coverage
    assert 0.92 <= consistent <= 0.98, consistent


def test_spread_beyond_the_intervals_is_flagged_and_widens_the_interval():
    rng = np.random.default_rng(7)
    narrow = [combine_replicas(_replica_posteriors(rng, 5, spread=3.0)) for _ in range(300)]
    assert np.mean([c.consistent for c in narrow]) < 0.2
    assert np.mean([c.between_sd > 0 for c in narrow]) > 0.8
    # the fixed-effect interval would cover ~50%; the random-effects one recovers most of it
    assert np.mean([lo <= TRUE <= hi for lo, hi in (c.ci95 for c in narrow)]) > 0.8


def test_one_replica_is_returned_unchanged():
    samples = np.random.default_rng(0).normal(3.0, 0.1, 500)
    c = combine_replicas([samples])
    assert c.value == np.median(samples) and c.consistent is None and c.n_replicas == 1
    assert c.samples is samples or np.array_equal(c.samples, samples)


def test_no_samples_is_refused():
    with pytest.raises(ValueError, match="every replica"):
        combine_replicas([np.array([])])


@pytest.mark.slow
def test_brownian_replicas_through_kinisi_cover_the_true_D():
    """Real kinisi estimates of replicas of Brownian Li (D = 1e-5 cm^2/s): the combined 95%
    interval holds the truth in nearly every set (kinisi's own intervals are calibrated here,
    data/benchmarks/replicas.md has the many-seed figure)."""
    settings = DiffusionSettings(n_samples=200, n_burn=200)
    small = {"n_frames": 300, "n_li": 32, "n_framework": 8, "frame_interval_ps": 0.1}
    covered, consistent = [], []
    for seed in range(6):
        trajectories = [
            dataclasses.replace(t, temperature_K=1000.0)
            for t in brownian_replicas(3, seed=seed, **small)
        ]
        result = analyze_replicas(
            trajectories, [seed * 10 + r for r in range(3)], equilibration_ps=0.0,
            settings=settings,
        )  # fmt: skip
        lo, hi = result.D.ci95
        covered.append(lo <= 1e-5 <= hi)
        consistent.append(result.D.consistent)
        row = result.row()
        assert row["n_replicas"] == 3 and len(row["replica_D_cm2_s"]) == 3
        assert row["replica_seeds"] == [seed * 10 + r for r in range(3)]
    assert sum(covered) >= 5 and sum(consistent) >= 4, (covered, consistent)

"""One estimate from seed replicas: trajectories of the same system that differ only in their
initial velocities, each with its own posterior.

Replicas estimate the same quantity, so their spread measures how far one run's estimate
wanders. They are combined in the logarithm (D and sigma are positive and their posteriors
skewed; a combined interval in ln D stays positive, so the Arrhenius fit can use it) by a
random-effects meta-analysis (DerSimonian & Laird, Controlled Clinical Trials 7, 177 (1986)):
each replica i has its estimate x_i (median of its ln samples) and standard error s_i (their
standard deviation); Cochran's Q = sum w_i (x_i - x_w)^2 with
w_i = 1/s_i^2 measures the spread against the replicas' own intervals, the between-replica
variance tau^2 = max(0, (Q - (n-1)) / (sum w - sum w^2 / sum w)) is what the spread adds beyond
them, and the combined ln value is the mean weighted by 1 / (s_i^2 + tau^2) with standard
error 1 / sqrt(sum of those weights) and a normal 95% interval, all exponentiated back. When
the replicas agree (tau^2 = 0) this is the inverse-variance mean; when they scatter more than
their intervals allow, the interval widens by the spread.

`consistent` records whether the single-trajectory intervals were consistent with the spread:
Cochran's Q test at the 5% level (Q ~ chi^2 with n-1 degrees of freedom when they are).

One replica is returned unchanged (its median, percentiles and samples), so `replicas: 1`
reproduces single-trajectory results exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Cochran's Q test level below which the replicas' intervals are called inconsistent.
CONSISTENCY_LEVEL = 0.05


@dataclass(frozen=True)
class Combined:
    """Combined estimate of one quantity over replicas, in the samples' unit.

    Attributes:
        value, ci95: combined value and 95% interval.
        samples: samples of the combined estimate (the replica's own for one replica, else
            log-normal draws with the combined standard error of the logarithm).
        replica_values, replica_ci95: each replica's posterior median and 2.5th-97.5th
            percentiles.
        between_sd: tau, the between-replica standard deviation of ln(value) beyond the
            replicas' own (0.1 = a 10% scatter).
        q_p_value: Cochran's Q test p-value (None for one replica).
        consistent: the replicas' own intervals explain their spread (None for one replica).
    """

    value: float
    ci95: tuple[float, float]
    samples: np.ndarray
    replica_values: tuple[float, ...]
    replica_ci95: tuple[tuple[float, float], ...]
    between_sd: float
    q_p_value: float | None
    consistent: bool | None

    @property
    def n_replicas(self) -> int:
        return len(self.replica_values)


def combine_replicas(
    samples: Sequence[np.ndarray], *, n_samples: int = 1000, seed: int = 0
) -> Combined:
    """Combine the posterior samples of one positive quantity from each replica (see the module
    doc); non-positive samples (kinisi draws none) are left out of the logarithm.

    Raises:
        ValueError: no replicas, or a replica without positive samples.
    """
    arrays = [np.asarray(s, dtype=float).ravel() for s in samples]
    logs = [np.log(a[a > 0]) for a in arrays]
    if not arrays or any(lg.size < 2 for lg in logs):
        raise ValueError("combine_replicas: every replica needs positive posterior samples")
    medians = tuple(float(np.median(a)) for a in arrays)
    ci95 = tuple(_ci95(a) for a in arrays)
    if len(arrays) == 1:
        return Combined(medians[0], ci95[0], arrays[0], medians, ci95, 0.0, None, None)
    x = np.array([np.median(lg) for lg in logs])
    var = np.array([max(float(np.var(lg, ddof=1)), np.finfo(float).tiny) for lg in logs])
    tau2, p_value = _between_variance(x, var)
    w = 1.0 / (var + tau2)
    ln_value = float(np.sum(w * x) / np.sum(w))
    se = float(np.sqrt(1.0 / np.sum(w)))
    z = stats.norm.ppf(0.975)
    draws = np.exp(np.random.default_rng(seed).normal(ln_value, se, n_samples))
    return Combined(
        value=float(np.exp(ln_value)),
        ci95=(float(np.exp(ln_value - z * se)), float(np.exp(ln_value + z * se))),
        samples=draws,
        replica_values=medians,
        replica_ci95=ci95,
        between_sd=float(np.sqrt(tau2)),
        q_p_value=p_value,
        consistent=bool(p_value >= CONSISTENCY_LEVEL),
    )


def _between_variance(x: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """DerSimonian-Laird tau^2 and Cochran's Q-test p-value."""
    w = 1.0 / var
    mean = np.sum(w * x) / np.sum(w)
    q = float(np.sum(w * (x - mean) ** 2))
    dof = len(x) - 1
    tau2 = max(0.0, (q - dof) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    return float(tau2), float(stats.chi2.sf(q, dof))


def _ci95(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)

"""Li conductivity from the collective (charge) displacement, with kinisi 2.0.1's
`ConductivityAnalyzer`, and the Haven ratio that compares it with the tracer route.

The tracer route (`science.diffusion` + Nernst-Einstein) treats every Li as independent. The
collective route follows the displacement of the Li charge as a whole: kinisi computes the mean
squared charge displacement MSCD(dt) = <|sum_i q_i dr_i(dt)|^2> over time origins and samples the
posterior of MSCD = 6 (sigma V kB T) dt + b from `fit_start_ps` on, so
sigma = slope / (6 V kB T), correlations between ions included. Its uncertainty is large: the
whole cell is one "particle", so only the time origins average (expect intervals ~sqrt(n_Li)
times wider than the tracer's). For the same reason the MSCD is fitted only over time intervals
up to a quarter of the analysed window (`MAX_LAG_FRACTION`): beyond that a handful of
independent origins remain and kinisi's variance model of a single particle understates their
scatter. On Brownian and concerted-pair Li (64 Li, 1000 frames, 10 seeds each) fitting every
interval put the truth in 4/10 of the 95% intervals, a quarter of the window in 10/10 and 9/10
(`ionic_assets.benchmarks.replicas`, data/benchmarks/replicas.md).

sigma is in mS/cm, D in cm^2/s, volumes in Angstrom^3, temperatures in K.

D_sigma = sigma kB T V / (N q^2) is the diffusion coefficient that would give the collective
conductivity without correlations; the Haven ratio H_R = D_tracer / D_sigma is 1 for independent
ions and below 1 for concerted motion (e.g. 0.5 when ions always move in pairs).

An estimate whose 95% interval spans more than a decade (`MAX_INTERVAL_DECADES`: log10 sigma
known no better than +-0.5, half the benchmark's +-1 decade band) or reaches zero is too
noisy: `undetermined_reason` says so, and the caller records it as "not estimable" with that
reason, never as a number (after combining replicas, which may make it determined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipp as sc
from kinisi.analyze import ConductivityAnalyzer
from kinisi.displacement import calculate_mstd

from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import (
    DEFAULT_SETTINGS,
    DiffusionSettings,
    prepare_parser,
    require_spread,
    sample_posterior,
)
from ionic_assets.science.errors import InputError
from ionic_assets.science.trajectory import Trajectory

#: The MSCD is fitted over time intervals up to this fraction of the analysed window.
MAX_LAG_FRACTION = 0.25
#: A collective sigma whose 95% interval spans more than this many decades is not estimable.
MAX_INTERVAL_DECADES = 1.0


@dataclass(frozen=True)
class CollectiveEstimate:
    """Collective conductivity of one trajectory.

    Attributes:
        sigma_mS_cm, sigma_ci95_mS_cm: posterior median and (2.5th, 97.5th) percentiles, mS/cm.
        sigma_samples_mS_cm: posterior samples, mS/cm.
        D_sigma_cm2_s, D_sigma_ci95_cm2_s, D_sigma_samples_cm2_s: the same as the "charge
            diffusion coefficient" D_sigma = sigma kB T V / (N q^2), cm^2/s.
    """

    sigma_mS_cm: float
    sigma_ci95_mS_cm: tuple[float, float]
    sigma_samples_mS_cm: np.ndarray
    D_sigma_cm2_s: float
    D_sigma_ci95_cm2_s: tuple[float, float]
    D_sigma_samples_cm2_s: np.ndarray


def estimate_collective(
    traj: Trajectory,
    *,
    equilibration_ps: float,
    settings: DiffusionSettings = DEFAULT_SETTINGS,
    element: str = "Li",
    charge: int = 1,
    seed: int = 0,
) -> CollectiveEstimate:
    """Collective conductivity of `element` (ions of `charge` e) in `traj`, whose temperature
    and cell give kB T V; the MSCD is sampled and fitted as the tracer MSD (`settings`).

    Raises:
        InputError: no temperature recorded; the input errors of `estimate_diffusion`.
        NotEstimable: too few fit points, or no motion.
    """
    if traj.temperature_K is None:
        raise InputError("collective conductivity: no temperature recorded for the trajectory")
    parser, _, _, mobile = prepare_parser(
        traj, equilibration_ps, settings, element, MAX_LAG_FRACTION
    )
    # kinisi takes the volume from the first frame's lattice; ours is a stand-in box much larger
    # than the cell (see diffusion._kinisi_parser), so the real cell volume is given here.
    parser._volume = sc.scalar(traj.volume_A3, unit="angstrom**3")
    analyzer = ConductivityAnalyzer(parser)
    analyzer._da = calculate_mstd(parser, 1, sc.scalar(float(charge), unit="e"), progress=False)
    require_spread(analyzer._da, element)
    temperature = sc.scalar(float(traj.temperature_K), unit="K")
    sample_posterior(analyzer.conductivity, settings, seed, temperature=temperature)
    sigma = np.asarray(analyzer.sigma.values, dtype=float)
    per_D = nernst_einstein_sigma_mS_cm(
        1.0, len(mobile), traj.volume_A3, traj.temperature_K, charge
    )
    D_sigma = sigma / per_D
    return CollectiveEstimate(
        sigma_mS_cm=float(np.median(sigma)),
        sigma_ci95_mS_cm=_ci95(sigma),
        sigma_samples_mS_cm=sigma,
        D_sigma_cm2_s=float(np.median(D_sigma)),
        D_sigma_ci95_cm2_s=_ci95(D_sigma),
        D_sigma_samples_cm2_s=D_sigma,
    )


@dataclass(frozen=True)
class HavenRatio:
    """H_R = D_tracer / D_sigma: median and (2.5th, 97.5th) percentiles over paired draws."""

    value: float
    ci95: tuple[float, float]


def haven_ratio(
    D_tracer_samples_cm2_s: np.ndarray,
    D_sigma_samples_cm2_s: np.ndarray,
    n_draws: int = 4000,
    seed: int = 0,
) -> HavenRatio:
    """The Haven ratio from posterior samples of both diffusion coefficients (cm^2/s), drawn
    independently (the two fits' posteriors are sampled separately)."""
    rng = np.random.default_rng(seed)
    ratio = rng.choice(np.asarray(D_tracer_samples_cm2_s, float), n_draws) / rng.choice(
        np.asarray(D_sigma_samples_cm2_s, float), n_draws
    )
    return HavenRatio(float(np.median(ratio)), _ci95(ratio))


def undetermined_reason(sigma_samples_mS_cm: np.ndarray) -> str | None:
    """Why these conductivity samples (mS/cm) say nothing, or None when they determine it."""
    lo, hi = _ci95(sigma_samples_mS_cm)
    if lo > 0 and hi / lo <= 10**MAX_INTERVAL_DECADES:
        return None
    median = float(np.median(sigma_samples_mS_cm))
    return (
        f"collective conductivity too noisy: 95% interval [{lo:.3g}, {hi:.3g}] mS/cm around "
        f"{median:.3g} spans more than {MAX_INTERVAL_DECADES:g} decade (longer runs or more "
        "replicas are needed)"
    )


def _ci95(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)

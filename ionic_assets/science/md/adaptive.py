"""Adaptive stopping: end a trajectory as soon as its diffusion coefficient is known.

Every `evaluate_every_ps` of simulated time (from `min_duration_ps` on) the trajectory so far is
analysed with the platform's own estimator (`diffusion.estimate_diffusion`, the settings and
equilibration the analysis uses) and the run stops with one of these reasons:

    converged       the Li MSD has passed `msd_threshold_A2` (the paper's reliability measure)
                    and the 95% interval of D lies within +-`D_relative_halfwidth` of D
    non_diffusive   from `non_diffusive_after_ps` on: even a straight-line extrapolation of the
                    MSD reached so far to the maximum duration stays below the threshold
    max_duration    the protocol's duration_ps (the run's last step), at the latest

Units: times ps, MSD Angstrom^2, D cm^2/s. The rule reads the frames only, so the same rule
applies to the batched engine, the ASE runner and (for benchmarks) synthetic trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

from ionic_assets.science.diffusion import DiffusionSettings, estimate_diffusion
from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.trajectory import Trajectory

CONVERGED, NON_DIFFUSIVE, MAX_DURATION = "converged", "non_diffusive", "max_duration"


@dataclass(frozen=True)
class AdaptiveRule:
    """When a trajectory may stop before the protocol's duration (see the module docstring).

    Attributes:
        evaluate_every_ps: simulated time between evaluations, ps.
        min_duration_ps: no stop before this simulated time, ps.
        msd_threshold_A2: the Li MSD a converged run must have passed, Angstrom^2.
        D_relative_halfwidth: the 95% interval must lie within D*(1 -+ this).
        non_diffusive_after_ps: the non-diffusive stop is judged from this time on, ps.
    """

    evaluate_every_ps: float = 5.0
    min_duration_ps: float = 20.0
    msd_threshold_A2: float = 20.0
    D_relative_halfwidth: float = 0.2
    non_diffusive_after_ps: float = 40.0

    def __post_init__(self) -> None:
        for name in ("evaluate_every_ps", "min_duration_ps", "msd_threshold_A2"):
            if not getattr(self, name) > 0:
                raise InputError(f"adaptive rule: {name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.D_relative_halfwidth < 1:
            raise InputError("adaptive rule: D_relative_halfwidth must be in (0, 1)")
        if self.non_diffusive_after_ps < self.min_duration_ps:
            raise InputError("adaptive rule: non_diffusive_after_ps must be >= min_duration_ps")

    def due(self, time_ps: float) -> bool:
        """Whether an evaluation falls on simulated time `time_ps` (a frame time)."""
        if time_ps + 1e-9 < self.min_duration_ps:
            return False
        ratio = time_ps / self.evaluate_every_ps
        return abs(ratio - round(ratio)) < 1e-6


@dataclass(frozen=True)
class StopDecision:
    """Why a trajectory stopped (one of the reasons above), when, and what it showed then."""

    reason: str
    time_ps: float
    D_cm2_s: float | None = None
    D_ci95_cm2_s: tuple[float, float] | None = None
    msd_max_A2: float | None = None


def evaluate(
    trajectory: Trajectory,
    rule: AdaptiveRule,
    *,
    equilibration_ps: float,
    max_duration_ps: float,
    settings: DiffusionSettings,
    seed: int = 0,
) -> StopDecision | None:
    """The stop decision for `trajectory` (all frames so far), or None to go on.

    The estimate is the one the analysis makes (same settings, seed and equilibration), so a
    converged stop promises what the diffusion_estimates asset will then report.
    """
    time_ps = float(trajectory.time_ps[-1] - trajectory.time_ps[0])
    try:
        estimate = estimate_diffusion(
            trajectory, equilibration_ps=equilibration_ps, settings=settings, seed=seed
        )
    except NotEstimable:
        return None  # too short to fit yet, or nothing moves: judged by the time limits
    D, (lo, hi) = estimate.D_cm2_s, estimate.D_ci95_cm2_s
    width = rule.D_relative_halfwidth
    found = {"D_cm2_s": D, "D_ci95_cm2_s": (lo, hi), "msd_max_A2": estimate.msd_max_A2}
    within = D > 0 and (1 - width) * D <= lo and hi <= (1 + width) * D
    if estimate.msd_max_A2 > rule.msd_threshold_A2 and within:
        return StopDecision(CONVERGED, time_ps, **found)
    analysed_ps = time_ps - equilibration_ps
    projected_A2 = estimate.msd_max_A2 * (max_duration_ps - equilibration_ps) / analysed_ps
    if time_ps + 1e-9 >= rule.non_diffusive_after_ps and projected_A2 < rule.msd_threshold_A2:
        return StopDecision(NON_DIFFUSIVE, time_ps, **found)
    return None


def rule_from_dict(config: dict | None) -> AdaptiveRule | None:
    """The rule of a protocol's ``adaptive:`` entry (None: the protocol runs its full length)."""
    if config is None:
        return None
    try:
        return AdaptiveRule(**config)
    except TypeError as exc:
        raise InputError(f"adaptive rule: bad field ({exc})") from exc

"""Li transport of one (material, temperature): D with its interval, conductivity at the run's
temperature, the MSD reliability test, the OLS check of kinisi's slope, the collective
conductivity with the Haven ratio, the framework's Lindemann ratio (`science.melting`), and the
combination of seed replicas. Shared by the
diffusion_estimates asset and `ionic-assets analyze`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ionic_assets.science import collective, melting, replicas
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import (
    DEFAULT_SETTINGS,
    OLS_AGREEMENT_FACTOR,
    DiffusionEstimate,
    DiffusionSettings,
    estimate_diffusion,
)
from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.trajectory import Trajectory

#: The paper's reliability threshold: ~4.5 Å of displacement, beyond local vibration.
MSD_THRESHOLD_A2 = 20.0


@dataclass(frozen=True)
class Transport:
    """D (cm^2/s) and the conductivity (mS/cm) it implies at `temperature_K` for this cell, and
    the collective estimate (None with `collective_reason` when it could not be made), and the
    framework's Lindemann ratio over the analysed frames (`melting`; None without a framework)."""

    estimate: DiffusionEstimate
    temperature_K: float
    sigma_mS_cm: float
    n_li: int
    volume_A3: float
    msd_threshold_A2: float
    collective: collective.CollectiveEstimate | None = None
    collective_reason: str | None = None
    framework_lindemann_ratio: float | None = None

    @property
    def reliable(self) -> bool:
        return self.estimate.msd_max_A2 >= self.msd_threshold_A2

    def summary(self) -> dict:
        """The headline numbers, JSON-ready."""
        e = self.estimate
        return {
            "D_cm2_s": e.D_cm2_s,
            "D_ci95_cm2_s": list(e.D_ci95_cm2_s),
            "D_ols_cm2_s": e.D_ols_cm2_s,
            "ols_agrees": e.ols_agrees,
            "sigma_mS_cm": self.sigma_mS_cm,
            "temperature_K": self.temperature_K,
            "msd_max_A2": e.msd_max_A2,
            "msd_threshold_A2": self.msd_threshold_A2,
            "reliable": self.reliable,
            "n_frames": e.n_frames,
            "n_li": self.n_li,
            "volume_A3": self.volume_A3,
            "provenance": e.provenance,
        }


def analyze_transport(
    traj: Trajectory,
    *,
    equilibration_ps: float,
    fit_start_ps: float | None = None,
    settings: DiffusionSettings = DEFAULT_SETTINGS,
    msd_threshold_A2: float = MSD_THRESHOLD_A2,
    with_collective: bool = False,
) -> Transport:
    """Li transport of `traj` (which must know its temperature), discarding `equilibration_ps`;
    `with_collective` adds kinisi's collective conductivity.

    Raises:
        InputError: the trajectory has no temperature; the errors of `estimate_diffusion`.
        NotEstimable: D cannot be determined (too short, no motion, D <= 0).
    """
    if traj.temperature_K is None:
        raise InputError("trajectory: no temperature recorded; give it (--temperature-K)")
    if fit_start_ps is not None:
        settings = dataclasses.replace(settings, fit_start_ps=fit_start_ps)
    estimate = estimate_diffusion(traj, equilibration_ps=equilibration_ps, settings=settings)
    sigma = nernst_einstein_sigma_mS_cm(
        estimate.D_cm2_s, traj.n_li, traj.volume_A3, traj.temperature_K
    )
    coll, reason = None, None
    if with_collective:
        try:
            coll = collective.estimate_collective(
                traj, equilibration_ps=equilibration_ps, settings=settings
            )
        except NotEstimable as exc:
            reason = str(exc)
    return Transport(
        estimate,
        float(traj.temperature_K),
        sigma,
        traj.n_li,
        traj.volume_A3,
        msd_threshold_A2,
        coll,
        reason,
        melting.framework_lindemann_ratio(traj, equilibration_ps),
    )


@dataclass(frozen=True)
class ReplicaTransport:
    """The transport of one partition from its seed replicas (one or more `Transport`s of the
    same cell and temperature, in replica order, with their velocity seeds)."""

    replicas: tuple[Transport, ...]
    seeds: tuple[int, ...]

    @cached_property
    def D(self) -> replicas.Combined:
        """The combined tracer D (cm^2/s); one replica keeps its own median and interval (from
        all of kinisi's samples, of which the stored ones are a thinned set)."""
        combined = replicas.combine_replicas([t.estimate.D_samples_cm2_s for t in self.replicas])
        if len(self.replicas) > 1:
            return combined
        e = self.replicas[0].estimate
        return dataclasses.replace(
            combined, value=e.D_cm2_s, ci95=e.D_ci95_cm2_s, replica_values=(e.D_cm2_s,),
            replica_ci95=(e.D_ci95_cm2_s,),
        )  # fmt: skip

    @cached_property
    def D_sigma(self) -> replicas.Combined | None:
        """The combined collective D_sigma (cm^2/s), None when a replica has none."""
        if any(t.collective is None for t in self.replicas):
            return None
        return replicas.combine_replicas(
            [t.collective.D_sigma_samples_cm2_s for t in self.replicas]
        )

    def collective_reason(self) -> str | None:
        """Why there is no collective conductivity, or None when there is one."""
        for seed, t in zip(self.seeds, self.replicas, strict=True):
            if t.collective is None:
                return f"replica seed {seed}: {t.collective_reason or 'not computed'}"
        return collective.undetermined_reason(self._sigma_per_D() * self.D_sigma.samples)

    def row(self) -> dict:
        """The diffusion_estimates columns of this partition (D, sigma, MSD, replicas, OLS,
        collective route, Haven ratio)."""
        D, first = self.D, self.replicas[0]
        msd_A2 = np.mean([t.estimate.msd_A2 for t in self.replicas], axis=0)
        msd_max = float(msd_A2.max())
        row = {
            "D_cm2_s": D.value,
            "D_ci95_lo_cm2_s": D.ci95[0],
            "D_ci95_hi_cm2_s": D.ci95[1],
            "D_samples_cm2_s": [float(x) for x in D.samples],
            "sigma_mS_cm": nernst_einstein_sigma_mS_cm(
                D.value, first.n_li, first.volume_A3, first.temperature_K
            ),
            "msd_dt_ps": [float(x) for x in first.estimate.msd_dt_ps],
            "msd_A2": [float(x) for x in msd_A2],
            "msd_max_A2": msd_max,
            "msd_threshold_A2": first.msd_threshold_A2,
            "reliable": msd_max >= first.msd_threshold_A2,
            "n_frames": first.estimate.n_frames,
            "n_li": first.n_li,
            "volume_A3": first.volume_A3,
            **self._replica_columns(D),
            **self._collective_columns(),
            **self._melting_columns(),
        }
        return row

    def _melting_columns(self) -> dict:
        """The largest Lindemann ratio of the replicas and whether it says melted."""
        ratios = [t.framework_lindemann_ratio for t in self.replicas]
        ratio = max((r for r in ratios if r is not None), default=None)
        return {
            "framework_lindemann_ratio": ratio,
            "lindemann_threshold": melting.LINDEMANN_MELTED,
            "melted": melting.melted(ratio),
        }

    def _replica_columns(self, D: replicas.Combined) -> dict:
        estimates = [t.estimate for t in self.replicas]
        return {
            "n_replicas": len(self.replicas),
            "replica_seeds": list(self.seeds),
            "replica_D_cm2_s": [e.D_cm2_s for e in estimates],
            "replica_D_ci95_lo_cm2_s": [e.D_ci95_cm2_s[0] for e in estimates],
            "replica_D_ci95_hi_cm2_s": [e.D_ci95_cm2_s[1] for e in estimates],
            "replica_D_ols_cm2_s": [e.D_ols_cm2_s for e in estimates],
            "ln_D_between_replica_sd": D.between_sd,
            "replicas_q_p_value": D.q_p_value,
            "replicas_consistent": D.consistent,
            "ols_agrees": all(e.ols_agrees for e in estimates),
            "ols_agreement_factor": OLS_AGREEMENT_FACTOR,
        }

    def _collective_columns(self) -> dict:
        reason = self.collective_reason()
        if reason is not None:
            return {"collective_reason": reason}
        D_sigma, per_D = self.D_sigma, self._sigma_per_D()
        haven = collective.haven_ratio(self.D.samples, D_sigma.samples)
        return {
            "sigma_collective_mS_cm": D_sigma.value * per_D,
            "sigma_collective_ci95_lo_mS_cm": D_sigma.ci95[0] * per_D,
            "sigma_collective_ci95_hi_mS_cm": D_sigma.ci95[1] * per_D,
            "D_sigma_cm2_s": D_sigma.value,
            "D_sigma_samples_cm2_s": [float(x) for x in D_sigma.samples],
            "haven_ratio": haven.value,
            "haven_ratio_ci95_lo": haven.ci95[0],
            "haven_ratio_ci95_hi": haven.ci95[1],
        }

    def _sigma_per_D(self) -> float:
        t = self.replicas[0]
        return nernst_einstein_sigma_mS_cm(1.0, t.n_li, t.volume_A3, t.temperature_K)


def analyze_replicas(
    trajectories: Sequence[Trajectory],
    seeds: Sequence[int],
    with_collective: bool = True,
    **kwargs,
) -> ReplicaTransport:
    """`analyze_transport` (with the collective route unless not `with_collective`, `kwargs`
    its arguments) of every replica of one partition; NotEstimable names the replica's seed."""
    results = []
    for seed, traj in zip(seeds, trajectories, strict=True):
        try:
            results.append(analyze_transport(traj, with_collective=with_collective, **kwargs))
        except NotEstimable as exc:
            if len(seeds) == 1:
                raise
            raise NotEstimable(f"replica seed {seed}: {exc}") from exc
    return ReplicaTransport(tuple(results), tuple(int(s) for s in seeds))

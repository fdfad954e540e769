"""One trajectory's Li transport: D with its interval, conductivity at the run's temperature,
and the MSD reliability test. Shared by the diffusion_estimates asset and `ionic-assets analyze`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import (
    DEFAULT_SETTINGS,
    DiffusionEstimate,
    DiffusionSettings,
    estimate_diffusion,
)
from ionic_assets.science.errors import InputError
from ionic_assets.science.trajectory import Trajectory

#: The paper's reliability threshold: ~4.5 Å of displacement, beyond local vibration.
MSD_THRESHOLD_A2 = 20.0


@dataclass(frozen=True)
class Transport:
    """D (cm^2/s) and the conductivity (mS/cm) it implies at `temperature_K` for this cell."""

    estimate: DiffusionEstimate
    temperature_K: float
    sigma_mS_cm: float
    n_li: int
    volume_A3: float
    msd_threshold_A2: float

    @property
    def reliable(self) -> bool:
        return self.estimate.msd_max_A2 >= self.msd_threshold_A2

    def summary(self) -> dict:
        """The headline numbers, JSON-ready."""
        e = self.estimate
        return {
            "D_cm2_s": e.D_cm2_s,
            "D_ci95_cm2_s": list(e.D_ci95_cm2_s),
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
) -> Transport:
    """Li transport of `traj` (which must know its temperature), discarding `equilibration_ps`.

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
    return Transport(
        estimate, float(traj.temperature_K), sigma, traj.n_li, traj.volume_A3, msd_threshold_A2
    )

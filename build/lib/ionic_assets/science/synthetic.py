"""Synthetic trajectories with a known answer, to validate the estimators against truth.

Lengths in Angstrom, times in picoseconds, diffusion coefficients in cm^2/s. Positions are
unwrapped, as the platform's trajectories are.
"""

from __future__ import annotations

import numpy as np

from ionic_assets.science.trajectory import LI, Trajectory

TRUE_D_CM2_S = 1e-5
#: The paper's run length; the frame count sets the frame interval.
RUN_PS = 100.0
A2_PER_PS_PER_CM2_PER_S = 1e4  # 1 cm^2/s = 1e16 A^2 / 1e12 ps
FRAMEWORK = 8  # atomic number of O, which stays put


def brownian_trajectory(
    *,
    seed: int,
    D_cm2_s: float = TRUE_D_CM2_S,
    n_frames: int = 2000,
    n_li: int = 100,
    n_framework: int = 50,
    frame_interval_ps: float = RUN_PS / 2000,
    box_A: float = 15.0,
) -> Trajectory:
    """Unwrapped trajectory of `n_li` Li random walkers with diffusion coefficient `D_cm2_s`.

    Each Cartesian step is Gaussian with variance 2 D dt, so MSD(t) = 6 D t exactly in
    expectation. The `n_framework` O atoms never move.
    """
    rng = np.random.default_rng(seed)
    step_sd_A = np.sqrt(2 * D_cm2_s * A2_PER_PS_PER_CM2_PER_S * frame_interval_ps)
    steps = rng.normal(0.0, step_sd_A, size=(n_frames - 1, n_li, 3))
    start = rng.uniform(0.0, box_A, size=(n_li + n_framework, 3))
    positions = np.repeat(start[None], n_frames, axis=0)
    positions[1:, :n_li] += np.cumsum(steps, axis=0)
    return Trajectory(
        positions_A=positions,
        time_ps=np.arange(n_frames) * frame_interval_ps,
        cell_A=box_A * np.eye(3),
        numbers=np.array([LI] * n_li + [FRAMEWORK] * n_framework),
        metadata={"synthetic": "brownian", "D_cm2_s": D_cm2_s, "seed": seed},
    )

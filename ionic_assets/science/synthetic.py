"""Synthetic trajectories and data sets with a known answer, to validate the estimators
against truth.

* `brownian_trajectory`: independent Li random walkers of a known D.
* `brownian_replicas`: independent Brownian Li trajectories of one known D, one per seed, as
  seed replicas of one (material, temperature) are.
* `concerted_trajectory`: Li that hop in rigid groups of `group_size` (every member of a group
  makes the same Brownian step), so the tracer D is known and the charge displacement of a group
  is `group_size` times one ion's: D_sigma = group_size x D_tracer and the Haven ratio is
  exactly 1 / group_size by construction (0.5 for concerted pair moves).
* `framework_trajectory`: Brownian Li in a simple-cubic framework whose atoms either vibrate
  about their lattice sites (a solid: Lindemann ratio sqrt(3) x vibration sd / spacing) or
  diffuse like a liquid (a melt: the ratio grows as sqrt(D x window) / spacing).
* `curved_arrhenius_samples`: posterior-like D samples at several temperatures around
  log10 D = a + b / T + c / T^2 with a known curvature c (K^2); c = 0 is a straight Arrhenius line.

Lengths in Angstrom, times in picoseconds, diffusion coefficients in cm^2/s, temperatures in K.
Positions are unwrapped, as the platform's trajectories are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.constants import Boltzmann, electron_volt

from ionic_assets.science.trajectory import LI, Trajectory

TRUE_D_CM2_S = 1e-5
#: The paper's run length; the frame count sets the frame interval.
RUN_PS = 100.0
A2_PER_PS_PER_CM2_PER_S = 1e4  # 1 cm^2/s = 1e16 A^2 / 1e12 ps
FRAMEWORK = 8  # atomic number of O, which stays put
KB_EV_K = Boltzmann / electron_volt


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


def brownian_replicas(n_replicas: int, *, seed: int, **kwargs) -> list[Trajectory]:
    """`n_replicas` independent `brownian_trajectory`s (same D, `kwargs`), seeds derived from
    `seed` so that replica sets of different seeds never share a trajectory."""
    return [brownian_trajectory(seed=seed * 1000 + r, **kwargs) for r in range(n_replicas)]


def concerted_trajectory(
    *, group_size: int, n_li: int, seed: int, temperature_K: float = 1000.0, **kwargs
) -> Trajectory:
    """Brownian Li with tracer D `kwargs["D_cm2_s"]` moving in rigid groups of `group_size`
    (Haven ratio 1 / group_size) at a nominal `temperature_K` (it sets kB T of the conductivity);
    `n_li` must be a multiple of `group_size`. Each group's members start at independent random
    positions in the box."""
    if group_size < 1 or n_li % group_size:
        raise ValueError(f"n_li {n_li} is not a multiple of group_size {group_size}")
    leaders = brownian_trajectory(seed=seed, n_li=n_li // group_size, **kwargs)
    li = np.flatnonzero(leaders.numbers == LI)
    framework = np.flatnonzero(leaders.numbers != LI)
    step_A = leaders.positions_A[:, li] - leaders.positions_A[0, li]  # (frames, groups, 3)
    box_A = float(leaders.cell_A[0, 0])
    starts = np.random.default_rng(seed + 1).uniform(0.0, box_A, size=(n_li, 3))
    li_positions = starts[None] + np.repeat(step_A, group_size, axis=1)
    positions = np.concatenate([li_positions, leaders.positions_A[:, framework]], axis=1)
    return Trajectory(
        positions_A=positions,
        time_ps=leaders.time_ps,
        cell_A=leaders.cell_A,
        numbers=np.concatenate([np.full(n_li, LI), leaders.numbers[framework]]),
        temperature_K=float(temperature_K),
        metadata={**leaders.metadata, "synthetic": "concerted", "group_size": group_size,
                  "haven_ratio": 1 / group_size},
    )  # fmt: skip


def framework_trajectory(
    *,
    seed: int,
    liquid: bool,
    n_side: int = 4,
    spacing_A: float = 3.0,
    vibration_sd_A: float = 0.1,
    framework_D_cm2_s: float = 1e-5,
    n_frames: int = 500,
    frame_interval_ps: float = 0.1,
    n_li: int = 16,
    temperature_K: float = 1200.0,
) -> Trajectory:
    """Brownian Li (D = `TRUE_D_CM2_S`) with `n_side`^3 framework atoms on a simple-cubic
    lattice of `spacing_A`: vibrating about their sites (Gaussian, `vibration_sd_A` per Cartesian
    component, independent between frames) or, when `liquid`, diffusing from them with
    `framework_D_cm2_s` on top of that vibration."""
    box_A = n_side * spacing_A
    li = brownian_trajectory(seed=seed, n_frames=n_frames, n_li=n_li, n_framework=0,
                             frame_interval_ps=frame_interval_ps, box_A=box_A)  # fmt: skip
    rng = np.random.default_rng(seed + 1)
    grid = np.arange(n_side) * spacing_A
    sites = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    framework = sites + rng.normal(0.0, vibration_sd_A, size=(n_frames, len(sites), 3))
    if liquid:
        step_sd_A = np.sqrt(2 * framework_D_cm2_s * A2_PER_PS_PER_CM2_PER_S * frame_interval_ps)
        steps = rng.normal(0.0, step_sd_A, size=(n_frames - 1, len(sites), 3))
        framework[1:] += np.cumsum(steps, axis=0)
    return Trajectory(
        positions_A=np.concatenate([li.positions_A, framework], axis=1),
        time_ps=li.time_ps,
        cell_A=li.cell_A,
        numbers=np.array([LI] * n_li + [FRAMEWORK] * len(sites)),
        temperature_K=temperature_K,
        metadata={**li.metadata, "synthetic": "liquid framework" if liquid else "solid framework"},
    )


def curved_log10_D(
    temperatures_K: Sequence[float], *, log10_D0: float, Ea_eV: float, curvature_K2: float
) -> np.ndarray:
    """log10 D = log10_D0 - Ea / (ln 10 kB T) + curvature_K2 / T^2 at each temperature."""
    T = np.asarray(temperatures_K, dtype=float)
    return log10_D0 - Ea_eV / (np.log(10) * KB_EV_K * T) + curvature_K2 / T**2


def curved_arrhenius_samples(
    temperatures_K: Sequence[float],
    *,
    log10_D0: float = -3.0,
    Ea_eV: float = 0.3,
    curvature_K2: float = 0.0,
    sd_log10_D: float = 0.02,
    n_samples: int = 1000,
    seed: int = 0,
) -> list[np.ndarray]:
    """D samples (cm^2/s) per temperature: the true `curved_log10_D` plus one Gaussian error of
    `sd_log10_D` decades per temperature (what a finite run does), around which the samples
    scatter with the same width (the run's posterior)."""
    rng = np.random.default_rng(seed)
    truth = curved_log10_D(temperatures_K, log10_D0=log10_D0, Ea_eV=Ea_eV,
                           curvature_K2=curvature_K2)  # fmt: skip
    observed = truth + rng.normal(0.0, sd_log10_D, size=len(truth))
    return [10 ** rng.normal(o, sd_log10_D, size=n_samples) for o in observed]

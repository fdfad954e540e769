"""Has the framework melted? The framework's Lindemann ratio over the analysed frames.

The Lindemann ratio is the root-mean-square displacement of the framework (non-Li) atoms about
their time-averaged positions (their sites), divided by the mean distance from each site to the
nearest site of the same element (its sublattice's spacing):

    ratio = sqrt(< |r_i(t) - <r_i>_t|^2 >_{i,t}) / d_nn,same element

Same element, not any: in a framework of molecular anions the nearest site of any kind is a
covalent partner. In CHGNet's solid Li3BN2 (qa9) at 1200 K the framework vibrates by 0.24 Å
(RMS) about its sites, and over the 1.32 Å B-N bond of [N-B-N]3- that read as a melt (0.18);
over the N-N and B-B spacings it is the solid it is (data/benchmarks/sensitivity.md).

Why this indicator, of the three candidates:

* Li vs framework MSD compares the framework with the Li, so it depends on how fast the Li go:
  a poor conductor's crystal (Li MSD ~1 Å^2) and a good conductor's melt look alike in the ratio.
* The loss of the framework's RDF peaks needs bins, a peak finder and a threshold on peak height
  that depends on the chemistry and the temperature.
* The Lindemann ratio looks at the framework alone, is dimensionless and has a physical scale:
  by Lindemann's criterion a crystal melts when its ratio reaches ~0.1-0.15, so a solid stays
  below `LINDEMANN_MELTED`, while a liquid's atoms leave their sites and its ratio grows without
  bound with the analysed time (about sqrt(D_framework x window) / d_nn: ~1 for 100 ps of a
  liquid with D ~ 1e-5 cm^2/s). It is also cheap: one pass over the frames.

The framework's common drift is removed (drift is not melting), as in
`trajectory.framework_rmsd_A`. With fewer than two framework atoms there is nothing to melt
relative to, and the ratio is undetermined (None).
"""

from __future__ import annotations

import itertools

import numpy as np

from ionic_assets.science.trajectory import LI, Trajectory

#: Lindemann ratio above which the framework counts as melted (the upper end of Lindemann's
#: criterion for crystals at their melting point).
LINDEMANN_MELTED = 0.15


def framework_lindemann_ratio(traj: Trajectory, equilibration_ps: float) -> float | None:
    """The framework's Lindemann ratio over the frames after `equilibration_ps` (ps); None with
    fewer than two framework atoms or two frames."""
    parts = framework_displacement_A(traj, equilibration_ps)
    return None if parts is None else parts[0] / parts[1]


def framework_displacement_A(traj: Trajectory, equilibration_ps: float) -> tuple | None:
    """The two parts of the Lindemann ratio (Å): the framework's RMS displacement about its
    sites over the frames after `equilibration_ps`, and the mean distance from each site to the
    nearest site of its element; None with fewer than two framework atoms or two frames."""
    framework = np.flatnonzero(traj.numbers != LI)
    time_ps = np.asarray(traj.time_ps, dtype=float)
    keep = time_ps - time_ps[0] >= equilibration_ps
    if len(framework) < 2 or keep.sum() < 2:
        return None
    positions_A = np.asarray(traj.positions_A, dtype=float)[keep][:, framework]
    positions_A = positions_A - positions_A.mean(axis=1, keepdims=True)  # the common drift
    sites_A = positions_A.mean(axis=0)
    u2_A2 = ((positions_A - sites_A) ** 2).sum(axis=2).mean()
    numbers = np.asarray(traj.numbers)[framework]
    return float(np.sqrt(u2_A2)), nearest_like_neighbour_A(sites_A, numbers, traj.cell_A)


def nearest_like_neighbour_A(positions_A: np.ndarray, numbers, cell_A: np.ndarray) -> float:
    """Mean over atoms of the distance (Å) to the nearest atom of the same element (periodic
    images, its own included), in the cell `cell_A`."""
    numbers = np.asarray(numbers)
    distances = [
        nearest_neighbour_A(positions_A[numbers == z], cell_A) * np.sum(numbers == z)
        for z in np.unique(numbers)
    ]
    return float(np.sum(distances) / len(numbers))


def nearest_neighbour_A(positions_A: np.ndarray, cell_A: np.ndarray) -> float:
    """Mean over atoms of the distance (Å) to the nearest other atom or periodic image, in the
    cell `cell_A` (rows are lattice vectors; images of the 26 neighbouring cells)."""
    nearest = np.full(len(positions_A), np.inf)
    diff = positions_A[:, None, :] - positions_A[None, :, :]
    for shift in itertools.product((-1, 0, 1), repeat=3):
        d = np.linalg.norm(diff + np.asarray(shift) @ cell_A, axis=2)
        if shift == (0, 0, 0):
            np.fill_diagonal(d, np.inf)
        nearest = np.minimum(nearest, d.min(axis=1))
    return float(nearest.mean())


def melted(ratio: float | None, threshold: float = LINDEMANN_MELTED) -> bool:
    """The ratio reaches `threshold` (an undetermined ratio is not a melt)."""
    return ratio is not None and ratio >= threshold


def melted_reason(ratio: float, threshold: float = LINDEMANN_MELTED) -> str:
    """Why a melted partition is left out of the Arrhenius fit."""
    return f"framework melted (Lindemann ratio {ratio:.3f} >= {threshold:g})"

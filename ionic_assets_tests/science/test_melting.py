"""The melting indicator on constructed frameworks with a known Lindemann ratio."""

import numpy as np
import pytest

from ionic_assets.science import melting
from ionic_assets.science.synthetic import framework_trajectory
from ionic_assets.science.transport import analyze_replicas

SPACING_A, VIBRATION_SD_A = 3.0, 0.1


def test_a_solid_framework_has_its_known_ratio_and_is_not_melted():
    traj = framework_trajectory(seed=1, liquid=False)
    ratio = melting.framework_lindemann_ratio(traj, equilibration_ps=1.0)
    # sqrt(3 sd^2) / spacing, less the small part of the vibration the time average absorbs
    assert ratio == pytest.approx(np.sqrt(3) * VIBRATION_SD_A / SPACING_A, rel=0.02)
    assert not melting.melted(ratio)


def test_a_liquid_framework_at_1200K_is_caught():
    traj = framework_trajectory(seed=2, liquid=True, framework_D_cm2_s=1e-5)
    ratio = melting.framework_lindemann_ratio(traj, equilibration_ps=1.0)
    # a random walk's mean square distance from its own time average over a window tau is D tau
    window_ps, D_A2_ps = 48.9, 1e-5 * 1e4
    rms_A = np.sqrt(D_A2_ps * window_ps + 3 * VIBRATION_SD_A**2)
    sites_A = traj.positions_A[10:, 16:].mean(axis=0)  # after 1 ps; the framework after 16 Li
    spacing_A = melting.nearest_like_neighbour_A(sites_A, traj.numbers[16:], traj.cell_A)
    assert ratio * spacing_A == pytest.approx(rms_A, rel=0.15)
    assert melting.melted(ratio) and ratio > 5 * melting.LINDEMANN_MELTED


def test_nearest_neighbour_counts_periodic_images():
    cell = 3.0 * np.eye(3)
    assert melting.nearest_neighbour_A(np.zeros((1, 3)), cell) == pytest.approx(3.0)
    two = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.5]])  # 0.5 Å apart through the boundary
    assert melting.nearest_neighbour_A(two, cell) == pytest.approx(0.5)


def test_the_spacing_is_between_sites_of_one_element():
    """A and B 1.2 Å apart (a covalent pair) on a 3 Å cubic lattice: each sublattice's spacing
    is 3 Å, not the pair's 1.2 Å."""
    cell = 3.0 * np.eye(3)
    pair = np.array([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0]])
    assert melting.nearest_neighbour_A(pair, cell) == pytest.approx(1.2)
    assert melting.nearest_like_neighbour_A(pair, [5, 7], cell) == pytest.approx(3.0)


def test_a_lone_framework_atom_is_undetermined():
    traj = framework_trajectory(seed=3, liquid=True, n_side=1)
    assert melting.framework_lindemann_ratio(traj, equilibration_ps=1.0) is None
    assert not melting.melted(None)


def test_the_partition_row_flags_the_melt():
    solid, liquid = (framework_trajectory(seed=4, liquid=flag) for flag in (False, True))
    rows = [
        analyze_replicas([t], [0], with_collective=False, equilibration_ps=1.0).row()
        for t in (solid, liquid)
    ]
    assert [r["melted"] for r in rows] == [False, True]
    assert rows[0]["lindemann_threshold"] == melting.LINDEMANN_MELTED


def test_a_temperature_left_out_is_recorded_with_its_reason():
    from ionic_assets.science.arrhenius import fit_arrhenius

    samples = [np.full(10, 1e-6), np.full(10, 1e-5)]
    reason = melting.melted_reason(0.4)
    fit = fit_arrhenius([800.0, 1000.0], samples, n_li=8, volume_A3=1e3, left_out={1200.0: reason})
    assert fit.temperatures_K == (800.0, 1000.0)
    assert fit.as_row()["excluded_json"] == {"1200": reason}
    assert reason == "framework melted (Lindemann ratio 0.400 >= 0.15)"

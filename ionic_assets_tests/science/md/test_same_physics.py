"""torch-sim and the ASE runner sample the same ensemble with the same model, system and
protocol: mean and spread of the temperature, and the diffusion coefficient.

The model is a Lennard-Jones fluid that both packages implement (ASE's `LennardJones`,
torch-sim's `LennardJonesModel`, float64, the same sigma, epsilon and cutoff): 108 atoms with
Li's mass at reduced temperature kT/eps = 1.5 and density 0.8, a liquid whose Li diffuses
fast (D ~ 1e-4 cm^2/s, MSD ~ 50 A^2 in 10 ps), so runs of 5000 steps suffice. The thermostats
differ by design in the degrees of freedom they control (ASE 3N, torch-sim 3N - 3; see
science/md/torchsim_thermostat.py): each is judged against its own canonical value.
"""

from dataclasses import replace

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.lj import LennardJones

from ionic_assets.science.diffusion import estimate_diffusion
from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.systems import System
from ionic_assets.science.md.torchsim_runner import run_batch
from ionic_assets.science.trajectory_store import read_trajectory
from ionic_assets_tests.science.md._helpers import short_protocol

EPSILON_EV, SIGMA_A, CUTOFF_A = 0.0104, 3.4, 8.5
TEMPERATURE_K = 1.5 * EPSILON_EV / units.kB  # 181 K
PROTOCOL = short_protocol(
    duration_ps=10.0,
    equilibration_ps=2.0,
    frame_interval_steps=10,
    checkpoint_interval_steps=5000,
    progress_interval_steps=5000,
    guards={"temperature_window_steps": 500, "max_temperature_deviation": 0.3,
            "distance_check_interval_steps": 500},
)  # fmt: skip


def lj_fluid():
    """fcc start at reduced density 0.8 (melts within the equilibration), 108 Li atoms."""
    a_A = (4 / 0.8) ** (1 / 3) * SIGMA_A
    atoms = bulk("Cu", "fcc", a=a_A, cubic=True).repeat(3)
    atoms.numbers[:] = 3
    return atoms


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch
    from torch_sim.models.lennard_jones import LennardJonesModel

    tmp = tmp_path_factory.mktemp("same_physics")
    calculator = LennardJones(sigma=SIGMA_A, epsilon=EPSILON_EV, rc=CUTOFF_A, smooth=False)
    ase_result = run_nvt(lj_fluid(), calculator, PROTOCOL, TEMPERATURE_K, 5, tmp / "ase.h5")
    model = LoadedModel(calculator, "cpu", {"family": "lennard-jones"}, frozenset({3}))
    ts_model = LennardJonesModel(
        sigma=SIGMA_A, epsilon=EPSILON_EV, cutoff=CUTOFF_A, dtype=torch.float64
    )
    system = System(lj_fluid(), TEMPERATURE_K, 5, tmp / "torchsim.h5")
    (ts_result,) = run_batch([system], model, PROTOCOL, ts_model=ts_model)
    return ase_result, ts_result


def diffusion(result):
    return estimate_diffusion(read_trajectory(result.trajectory_path), equilibration_ps=2.0)


@pytest.mark.slow
def test_same_temperature_mean_and_spread(runs):
    for result, dof in zip(runs, (3 * 108, 3 * 108 - 3), strict=True):
        # Mean: ~1.6 K standard error (4000 correlated steps); spread: canonical T sqrt(2/dof).
        assert result.mean_temperature_K == pytest.approx(TEMPERATURE_K, rel=0.03)
        canonical_K = TEMPERATURE_K * np.sqrt(2 / dof)
        assert result.std_temperature_K == pytest.approx(canonical_K, rel=0.25)
    ase_result, ts_result = runs
    assert ts_result.std_temperature_K == pytest.approx(ase_result.std_temperature_K, rel=0.25)


@pytest.mark.slow
def test_same_diffusion_coefficient_within_uncertainty(runs):
    ase_D, ts_D = (diffusion(result) for result in runs)
    half_widths = [(e.D_ci95_cm2_s[1] - e.D_ci95_cm2_s[0]) / 2 for e in (ase_D, ts_D)]
    assert abs(ase_D.D_cm2_s - ts_D.D_cm2_s) < np.hypot(*half_widths)
    assert ase_D.msd_max_A2 > 20 and ts_D.msd_max_A2 > 20


@pytest.mark.slow
def test_adaptive_batch_stops_each_system_for_its_own_reason(tmp_path):
    """The liquid converges, a cold crystal stops as non-diffusive; both leave the batch
    before the 10 ps maximum, with their reason and simulated time recorded."""
    import torch
    from torch_sim.models.lennard_jones import LennardJonesModel

    adaptive = {"evaluate_every_ps": 2.0, "min_duration_ps": 4.0, "non_diffusive_after_ps": 4.0}
    protocol = replace(PROTOCOL, diffusion_fit_start_ps=0.5, adaptive=adaptive)
    crystal = bulk("Cu", "fcc", a=2 ** (2 / 3) * SIGMA_A, cubic=True).repeat(3)  # rho* = 1
    crystal.numbers[:] = 3
    calculator = LennardJones(sigma=SIGMA_A, epsilon=EPSILON_EV, rc=CUTOFF_A, smooth=False)
    model = LoadedModel(calculator, "cpu", {"family": "lennard-jones"}, frozenset({3}))
    ts_model = LennardJonesModel(
        sigma=SIGMA_A, epsilon=EPSILON_EV, cutoff=CUTOFF_A, dtype=torch.float64
    )
    systems = [
        System(lj_fluid(), TEMPERATURE_K, 5, tmp_path / "liquid.h5"),
        System(crystal, 0.3 * EPSILON_EV / units.kB, 5, tmp_path / "crystal.h5"),
    ]
    liquid, solid = run_batch(systems, model, protocol, ts_model=ts_model)
    assert (liquid.stop_reason, solid.stop_reason) == ("converged", "non_diffusive")
    assert solid.simulated_ps == pytest.approx(4.0) and liquid.simulated_ps < 10.0
    assert read_trajectory(liquid.trajectory_path).time_ps[-1] == pytest.approx(liquid.simulated_ps)

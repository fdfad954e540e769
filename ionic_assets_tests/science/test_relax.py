"""Relaxation before MD (science/relax.py) on known answers: EMT copper and a Lennard-Jones
argon crystal return to their minima, the volume change has the right sign, a divergence is one
line naming the material and the model, and torch-sim's batched FIRE agrees with ASE's."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.protocols import Relax
from ionic_assets.science.relax import RelaxationDiverged, relax_ase, relax_cells, unrelaxed

#: EMT's copper lattice constant, Å (ase.calculators.emt; its fcc minimum).
EMT_CU_A = 3.5898
CELL = Relax(mode="cell", fmax_eV_A=0.005, max_steps=500)


def emt() -> LoadedModel:
    return LoadedModel(EMT(), "cpu", {"family": "emt", "name": "ase"}, frozenset({29}))


def copper(scale: float = 1.0, noise_A: float = 0.0):
    atoms = bulk("Cu", "fcc", a=EMT_CU_A, cubic=True).repeat((2, 1, 1))
    atoms.set_cell(atoms.cell * scale, scale_atoms=True)
    atoms.positions += np.random.default_rng(0).normal(0, noise_A, atoms.positions.shape)
    return atoms


@pytest.mark.parametrize(("scale", "sign"), [(1.03, -1), (0.97, 1)])
def test_cell_relaxation_returns_to_the_emt_lattice(scale, sign):
    result = relax_ase(copper(scale, 0.03), "Cu", emt(), CELL, 0.5)
    assert result.converged and 0 < result.n_steps < CELL.max_steps
    a, b, c = result.atoms.cell.cellpar()[:3] / np.array([2, 1, 1])
    assert a == b == c or np.allclose([a, b, c], EMT_CU_A, atol=3e-3)
    assert np.sign(result.change["volume_change_frac"]) == sign
    assert result.change["volume_change_frac"] == pytest.approx(scale**-3 - 1, abs=0.01)
    assert result.energy_drop_eV_per_atom > 0
    assert result.to_dict()["settings"]["cell_filter"] == "ase.filters.FrechetCellFilter"


def test_positions_relaxation_keeps_the_cell_and_undoes_the_noise():
    start = copper(1.0, 0.05)
    result = relax_ase(start, "Cu", emt(), Relax(mode="positions", fmax_eV_A=0.005), 0.5)
    assert result.converged
    assert result.change["volume_change_frac"] == 0.0
    assert result.atoms.cell.cellpar() == pytest.approx(start.cell.cellpar())
    assert 0.02 < result.change["max_displacement_A"] < 0.3
    assert result.change["max_li_displacement_A"] == 0.0  # no Li in copper


def test_an_unconverged_relaxation_is_kept_and_says_so():
    result = relax_ase(copper(1.03, 0.03), "Cu", emt(), Relax(mode="cell", max_steps=3), 0.5)
    assert not result.converged and result.n_steps == 3


def test_mode_none_passes_the_cell_through():
    start = copper(1.03)
    choice, (result,) = relax_cells([start], ["Cu"], emt(), Relax(), 0.5)
    assert choice is None and result.mode == "none" and result.n_steps == 0
    assert result.atoms == start and result.change["volume_change_frac"] == 0.0
    assert unrelaxed(start).energy_drop_eV_per_atom is None


class NaNForces(Calculator):
    implemented_properties = ("energy", "forces", "stress")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": 0.0, "forces": np.full((n, 3), np.nan), "stress": np.zeros(6)}


def test_divergence_is_one_line_naming_material_and_model():
    model = LoadedModel(NaNForces(), "cpu", {"family": "broken", "name": "nan"}, frozenset({29}))
    with pytest.raises(RelaxationDiverged) as raised:
        relax_ase(copper(), "gvd", model, CELL, 0.5)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("material gvd, model broken nan: relaxation diverged")


def test_overlapping_atoms_stop_the_relaxation():
    atoms = copper()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0, 0]
    choice, (outcome,) = relax_cells([atoms], ["Cu"], emt(), CELL, 0.5)
    assert choice.engine == "ase" and "not batchable" in choice.reason
    assert isinstance(outcome, RelaxationDiverged) and "Å apart" in str(outcome)


def argon(scale: float, repeat=(1, 1, 1)):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(repeat)
    atoms.set_cell(atoms.cell * scale, scale_atoms=True)
    atoms.positions += np.random.default_rng(1).normal(0, 0.03, atoms.positions.shape)
    return atoms


def test_batched_fire_agrees_with_ase_on_lennard_jones():
    import torch
    from torch_sim.models.lennard_jones import LennardJonesModel

    from ionic_assets.science.relax_batched import relax_batch

    params = {"sigma": 3.405, "epsilon": 0.0104}
    ts_model = LennardJonesModel(**params, cutoff=8.5, device=torch.device("cpu"),
                                 dtype=torch.float64, compute_stress=True)  # fmt: skip
    model = LoadedModel(LennardJones(**params, rc=8.5), "cpu", {"family": "lj"}, frozenset({18}))
    cells = [argon(1.04), argon(0.99, (2, 1, 1))]
    relax = Relax(mode="cell", fmax_eV_A=0.001, max_steps=500)
    batched = relax_batch(cells, ["a", "b"], model, relax, 0.5, ts_model=ts_model)
    for cell, result in zip(cells, batched, strict=True):
        alone = relax_ase(cell, "x", model, relax, 0.5)
        assert result.converged and alone.converged and result.engine == "torch-sim"
        assert (result.batch_size, alone.batch_size) == (2, 1)
        assert result.change["volume_change_frac"] == pytest.approx(
            alone.change["volume_change_frac"], abs=2e-3
        )
    assert batched[0].change["volume_change_frac"] < 0 < batched[1].change["volume_change_frac"]

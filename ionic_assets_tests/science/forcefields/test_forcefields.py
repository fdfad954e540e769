"""Force-model registry: real models (shipped CHGNet/SevenNet weights, a random-weight MACE
built here), their identity, element coverage, and the errors for bad specs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from ase import Atoms

from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import (
    BATCHABLE_FAMILIES,
    FAMILIES,
    LoadedModel,
    ModelSpec,
    build_calculator,
    check_elements,
    file_sha256,
)
from ionic_assets.science.forcefields.random_mace import write_random_mace_model
from ionic_assets_tests.science.md._helpers import li3n


@pytest.fixture(scope="module")
def mace_path(tmp_path_factory):
    return write_random_mace_model(tmp_path_factory.mktemp("mace") / "tiny.model")


def rattled_li3n(repeat=(2, 1, 1), seed: int = 0) -> Atoms:
    atoms = li3n().repeat(repeat)
    atoms.rattle(0.05, seed=seed)
    return atoms


def forces(model: LoadedModel, atoms: Atoms) -> np.ndarray:
    atoms = atoms.copy()
    atoms.calc = model.calculator
    return atoms.get_forces()


def assert_wrapping_invariant(model: LoadedModel, atoms: Atoms) -> None:
    """MD positions are unwrapped: shifting atoms by lattice vectors must not change forces."""
    shifted = atoms.copy()
    shifted.positions[::2] += 3 * shifted.cell[0] - 2 * shifted.cell[2]
    np.testing.assert_allclose(forces(model, shifted), forces(model, atoms), atol=1e-4)


def test_mace_local_file_forces_are_minus_energy_gradient(mace_path):
    model = build_calculator(ModelSpec(family="mace", path=str(mace_path), dtype="float64"))
    assert model.device == "cpu"
    assert model.identity["weights_sha256"] == file_sha256(mace_path)
    assert model.identity["package"] == "mace-torch"
    assert model.atomic_numbers == {3, 7}
    atoms = rattled_li3n()
    atoms.calc = model.calculator
    analytic = atoms.get_forces()
    assert np.isfinite(analytic).all() and np.abs(analytic).max() > 1e-4
    h = 1e-4  # Angstrom; float64 central differences are good to ~1e-7 here
    for atom, axis in [(0, 0), (3, 2), (5, 1)]:
        energies = []
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * h
            displaced.calc = model.calculator
            energies.append(displaced.get_potential_energy())
        numeric = -(energies[0] - energies[1]) / (2 * h)
        assert numeric == pytest.approx(analytic[atom, axis], abs=1e-6)


def test_mace_float32_by_default_and_wrapping_invariant(mace_path):
    model = build_calculator(ModelSpec.from_dict({"family": "mace", "path": str(mace_path)}))
    assert model.identity["dtype"] == "float32"
    assert model.identity["name"] == "tiny.model"
    assert_wrapping_invariant(model, rattled_li3n())


def test_mace_model_pickled_under_e3nn_0_4_runs(mace_path, tmp_path):
    """Foundation checkpoints come from e3nn 0.4, whose SphericalHarmonics has no `sph_func`."""
    model = torch.load(mace_path, weights_only=False)
    for module in model.modules():
        if hasattr(module, "sph_func"):
            del module.sph_func
    old_path = tmp_path / "e3nn04.model"
    torch.save(model, old_path)
    old = build_calculator(ModelSpec(family="mace", path=str(old_path)))
    new = build_calculator(ModelSpec(family="mace", path=str(mace_path)))
    atoms = rattled_li3n()
    np.testing.assert_array_equal(forces(old, atoms), forces(new, atoms))


def test_mace_by_name_offline_fails_fast_with_one_line(monkeypatch, tmp_path):
    # An empty cache and an HTTPS proxy that refuses connections: offline whatever the machine.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(InputError) as error:
        build_calculator(ModelSpec.from_dict({"family": "mace", "name": "medium-mpa-0"}))
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "\n" not in message
    assert "medium-mpa-0" in message and "cannot be downloaded" in message
    assert "path:" in message


def test_unknown_mace_name_lists_known():
    with pytest.raises(InputError, match="unknown MACE foundation model 'huge'.*medium-mpa-0"):
        build_calculator(ModelSpec(family="mace", name="huge"))


def test_element_not_covered_is_named(mace_path):
    model = build_calculator(ModelSpec(family="mace", path=str(mace_path)))
    li2o = Atoms("Li2O", positions=[[0, 0, 0], [1.6, 0, 0], [0.8, 1.4, 0]], cell=[5] * 3, pbc=1)
    with pytest.raises(InputError, match=r"mace model 'tiny.model' does not cover element\(s\) O"):
        check_elements(model, li2o)
    check_elements(ModelSpec(family="mace", path=str(mace_path)), li3n())  # spec form loads it


def test_unknown_family():
    with pytest.raises(InputError, match="unknown force-model family 'schnet'.*mace"):
        ModelSpec.from_dict({"family": "schnet", "name": "x"})
    with pytest.raises(InputError, match="unknown keys"):
        ModelSpec.from_dict({"family": "mace", "checkpoint": "x"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_names_the_device():
    with pytest.raises(InputError, match="device 'cuda' requested but no CUDA GPU"):
        build_calculator(ModelSpec(family="chgnet"), device="cuda")


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nope.model"
    with pytest.raises(InputError, match=f"weights file {missing} not found"):
        build_calculator(ModelSpec(family="mace", path=str(missing)))


def test_float64_only_for_mace():
    with pytest.raises(InputError, match="chgnet models run in float32 only"):
        ModelSpec(family="chgnet", dtype="float64")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "name", "uncovered"),
    [("chgnet", "0.3.0", "Am"), ("sevenn", "7net-0", "Po")],
)
def test_shipped_weights_give_finite_wrap_invariant_forces(family, name, uncovered):
    model = build_calculator(ModelSpec(family=family, name=name), device="auto")
    identity = model.identity
    assert identity["weights_sha256"] == file_sha256(identity["weights_path"])
    assert identity["package"] == family and identity["package_version"]
    atoms = rattled_li3n((2, 2, 1))
    assert np.isfinite(forces(model, atoms)).all()
    assert_wrapping_invariant(model, atoms)
    check_elements(model, atoms)
    bad = Atoms(f"Li{uncovered}", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[6] * 3, pbc=True)
    with pytest.raises(InputError, match=f"does not cover element\\(s\\) {uncovered} of"):
        check_elements(model, bad)


def test_batchable_families_are_those_with_a_torchsim_wrapper():
    wrapped = {name for name, module in FAMILIES.items() if module.torchsim_model is not None}
    assert set(BATCHABLE_FAMILIES) == wrapped == {"sevenn", "mace"}

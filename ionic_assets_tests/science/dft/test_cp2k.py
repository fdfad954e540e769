"""dft-cp2k: real CP2K AIMD steps on a 2-atom Li cell, the SCF fallback, and the input errors.

Needs the Debian packages cp2k and cp2k-data (skipped otherwise). A minimal basis (SZV) instead of
production's DZVP keeps the CP2K runs to seconds; grids and everything else are production's.
(A coarser 200 Ry grid would not do: for Li's 1s semicore its forces are off by 0.03 eV/A from
the energy's finite difference, against 0.001 eV/A at 400 Ry.)
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.md.nose_hoover_chain import NoseHooverChainNVT
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ionic_assets.lib.methods import dft_installation
from ionic_assets.lib.settings import CP2K_DATA_DIR
from ionic_assets.science.dft import cp2k, load_dft_method
from ionic_assets.science.dft.cp2k import (
    Cp2kSettings,
    ScfNotConverged,
    build_cp2k_calculator,
    cp2k_identity,
    element_kinds,
)
from ionic_assets.science.errors import InputError
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.checkpoint import load_checkpoint
from ionic_assets.science.protocols import protocol_from_dict
from ionic_assets.science.trajectory_store import read_trajectory

needs_cp2k = pytest.mark.skipif(
    not any(cp2k.shutil.which(name) for name in cp2k.BINARIES), reason="CP2K not installed"
)
FAST = dict(basis_set="SZV-MOLOPT-SR-GTH")
TEMPERATURE_K = 800.0


def _data_dir():
    """CP2K's data folder as the settings give it now (CP2K_DATA_DIR, else Debian's)."""
    return CP2K_DATA_DIR.value()


@pytest.fixture
def lithium() -> Atoms:
    return bulk("Li", "bcc", a=3.44, cubic=True)


@pytest.mark.slow
@needs_cp2k
def test_aimd_steps_are_physical(lithium, tmp_path):
    calc = build_cp2k_calculator(
        lithium, tmp_path / "run", _data_dir(), ncores=1, settings=Cp2kSettings(**FAST)
    )
    atoms = lithium.copy()
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(3))
    Stationary(atoms)
    atoms.set_momenta(atoms.get_momenta() * np.sqrt(TEMPERATURE_K / atoms.get_temperature()))
    dyn = NoseHooverChainNVT(
        atoms, timestep=1.0 * units.fs, temperature_K=TEMPERATURE_K, tdamp=100 * units.fs
    )
    temperatures = []
    for _ in range(4):
        dyn.run(1)
        forces = atoms.get_forces()
        assert np.isfinite(forces).all() and np.isfinite(atoms.get_potential_energy())
        temperatures.append(atoms.get_temperature())
    assert all(TEMPERATURE_K / 2 < t < TEMPERATURE_K * 2 for t in temperatures), temperatures
    assert calc.md_step == 5 and not calc.on_fallback
    assert (tmp_path / "run" / "cp2k-RESTART.wfn").is_file()

    # Forces are the negative gradient of the energy: central difference along x of atom 0.
    h = 0.01
    atoms.positions[0, 0] += h
    e_plus = atoms.get_potential_energy()
    atoms.positions[0, 0] -= 2 * h
    e_minus = atoms.get_potential_energy()
    atoms.positions[0, 0] += h
    fd_force = -(e_plus - e_minus) / (2 * h)
    assert atoms.get_forces()[0, 0] == pytest.approx(fd_force, abs=0.01)
    calc.close()


@pytest.mark.slow
@needs_cp2k
def test_unconverged_scf_falls_back_then_fails_naming_the_step(lithium, tmp_path):
    # One OT step cannot converge: the fallback (diagonalization + smearing) takes over.
    settings = Cp2kSettings(**FAST, max_scf=1, max_outer_scf=1)
    # ncores=2: MPI ranks
    calc = build_cp2k_calculator(lithium, tmp_path / "a", _data_dir(), ncores=2, settings=settings)
    energy = calc.get_potential_energy(lithium)
    assert calc.on_fallback and np.isfinite(energy)
    assert calc.md_step == 1
    calc.close()

    hopeless = Cp2kSettings(**FAST, max_scf=1, max_outer_scf=1, fallback_max_scf=1)
    calc = build_cp2k_calculator(lithium, tmp_path / "b", _data_dir(), ncores=1, settings=hopeless)
    calc.md_step = 41  # as a runner resuming at step 41 would set it
    with pytest.raises(ScfNotConverged, match="MD step 41"):
        calc.get_forces(lithium)
    calc.close()


@pytest.mark.slow
@needs_cp2k
def test_new_process_restarts_from_the_wavefunction_file(lithium, tmp_path):
    for _ in range(2):
        calc = build_cp2k_calculator(
            lithium, tmp_path, _data_dir(), ncores=1, settings=Cp2kSettings(**FAST)
        )
        calc.get_potential_energy(lithium)
        calc.close()
    out = (tmp_path / "cp2k.out").read_text()
    first, second = (int(n) for n in re.findall(r"SCF run converged in +(\d+) steps", out))
    # Only the first run warned that the restart file is missing (and used the atomic guess).
    assert out.count("User requested to restart the") == 1
    assert second < first


@needs_cp2k
def test_identity_names_engine_version_and_per_element_data(lithium):
    identity = cp2k_identity(lithium, _data_dir())
    assert identity["family"] == "dft" and identity["name"] == "dft-cp2k"
    assert identity["package"] == "cp2k" and identity["package_version"][:2] == "20"
    settings = identity["settings"]
    assert settings["xc"] == "PBE" and settings["cutoff_Ry"] == 400.0
    assert settings["spin_polarized"] is False and settings["hubbard_u"] is False
    assert settings["basis_sets"] == {"Li": "BASIS_MOLOPT:DZVP-MOLOPT-SR-GTH-q3"}
    assert settings["pseudopotentials"] == {"Li": "GTH_POTENTIALS:GTH-PBE-q3"}


def test_missing_cp2k_binary_is_an_input_error(lithium, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="no CP2K executable"):
        build_cp2k_calculator(lithium, tmp_path / "run", _data_dir(), ncores=1)


def _fake_data_dir(path, basis_elements, potential_elements):
    path.mkdir()
    basis = "".join(
        f"{e} DZVP-MOLOPT-SR-GTH DZVP-MOLOPT-SR-GTH-q3\n 1\n 2 0 1 1 1 1\n 1.0 1.0 1.0\n"
        for e in basis_elements
    )
    (path / "BASIS_MOLOPT").write_text("# fake\n" + basis)
    potentials = "".join(f"{e} GTH-PBE-q3 GTH-PBE\n    3\n" for e in potential_elements)
    (path / "GTH_POTENTIALS").write_text(potentials)
    return path


def test_element_without_basis_set_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CP2K_DATA_DIR", str(_fake_data_dir(tmp_path / "d", ["Li"], ["Li", "N"])))
    with pytest.raises(InputError, match="basis set for element N"):
        element_kinds(Atoms("Li3N", positions=np.zeros((4, 3))), Cp2kSettings(), _data_dir())


def test_element_without_pseudopotential_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CP2K_DATA_DIR", str(_fake_data_dir(tmp_path / "d", ["Li", "N"], ["Li"])))
    with pytest.raises(InputError, match="pseudopotential GTH-PBE-q3 for element N"):
        element_kinds(Atoms("Li3N", positions=np.zeros((4, 3))), Cp2kSettings(), _data_dir())


def test_empty_data_dir_is_an_input_error(lithium, tmp_path, monkeypatch):
    monkeypatch.setenv("CP2K_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match="cp2k-data"):
        element_kinds(lithium, Cp2kSettings(), _data_dir())


def test_basis_valence_selects_the_matching_pseudopotential(monkeypatch):
    monkeypatch.delenv("CP2K_DATA_DIR", raising=False)
    if not (CP2K_DATA_DIR.default / "BASIS_MOLOPT").is_file():
        pytest.skip("cp2k-data not installed")
    atoms = Atoms("LiLaZrO", positions=np.zeros((4, 3)))
    kinds = element_kinds(atoms, Cp2kSettings(), _data_dir())
    assert kinds["Zr"].basis_set == "DZVP-MOLOPT-SR-GTH-q12"
    assert kinds["Zr"].potential == "GTH-PBE-q12"
    assert kinds["La"].basis_file == "BASIS_MOLOPT_UCL"  # not in BASIS_MOLOPT
    assert kinds["O"].valence == 6


def test_command_uses_mpi_ranks_for_several_cores(monkeypatch):
    monkeypatch.setattr(cp2k, "cp2k_binary", lambda: "/usr/bin/cp2k.psmp")
    monkeypatch.setattr(cp2k.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert cp2k.cp2k_command(1) == "env OMP_NUM_THREADS=1 /usr/bin/cp2k.psmp -s"
    command = cp2k.cp2k_command(64)
    assert command.startswith("env OMP_NUM_THREADS=1 ")
    assert command.endswith("/usr/bin/mpiexec -n 64 /usr/bin/cp2k.psmp -s")
    monkeypatch.setattr(cp2k.shutil, "which", lambda name: None)
    assert cp2k.cp2k_command(4) == "env OMP_NUM_THREADS=4 /usr/bin/cp2k.psmp -s"


@pytest.mark.slow
@needs_cp2k
def test_deep_work_directory(lithium, tmp_path):
    """CP2K refuses input strings over 80 characters: a deep work directory must still run."""
    deep = tmp_path / ("trajectories-" * 8) / "1000K.dft"
    assert len(str(deep)) > 80
    calc = build_cp2k_calculator(
        lithium, deep, _data_dir(), ncores=1, settings=Cp2kSettings(**FAST)
    )
    try:
        assert np.isfinite(calc.get_potential_energy(lithium.copy()))
    finally:
        calc.close()
    assert (deep / "cp2k-RESTART.wfn").is_file() and (deep / "cp2k.out").is_file()


RESUME_SCRIPT = """
import sys
from pathlib import Path
from ase.build import bulk
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.lib.methods import dft_installation
from ionic_assets.science.dft import load_dft_method
from ionic_assets_tests.science.dft.test_cp2k import FAST, tiny_protocol
path = Path(sys.argv[1])
atoms = bulk("Li", "bcc", a=3.44, cubic=True)
model = load_dft_method(
    "cp2k", atoms, path.with_suffix(".dft"), dft_installation(), ncores=1, settings=FAST
)
run_nvt(atoms, model, tiny_protocol(), 800.0, 7, path)
"""


def tiny_protocol(n_steps: int = 8):
    """n_steps of 1 fs, every step a frame and a checkpoint, as the DFT methods run."""
    return protocol_from_dict(
        "tiny",
        {
            "timestep_fs": 1.0, "duration_ps": n_steps / 1000, "equilibration_ps": 0.0,
            "diffusion_fit_start_ps": 0.0,
            "thermostat": {"class": "ase.md.nose_hoover_chain.NoseHooverChainNVT",
                           "params": {"tdamp_fs": 100.0, "tchain": 3, "tloop": 1}},
            "frame_interval_steps": 1, "checkpoint_interval_steps": 1,
            "progress_interval_steps": 1, "min_cell_width_A": 0.0,
            "guards": {"min_interatomic_distance_A": 0.5, "distance_check_interval_steps": 1,
                       "max_temperature_deviation": 10.0, "temperature_window_steps": 4},
        },
    )  # fmt: skip


@pytest.mark.slow
@needs_cp2k
def test_killed_aimd_resumes_from_its_last_step_and_wavefunction(tmp_path):
    """SIGKILL the whole process group (Python, shell and CP2K) mid-run, as a pod eviction
    does; the rerun continues from the last checkpointed step with CP2K's restart file."""
    path = tmp_path / "1000K.h5"
    ckpt = path.with_name(path.name + ".ckpt")
    child = subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, str(path)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and child.poll() is None:
            checkpoint = load_checkpoint(ckpt) if ckpt.exists() else None
            if checkpoint and checkpoint[1]["state"]["step"] >= 3:
                break
            time.sleep(0.2)
        assert child.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    killed_at = load_checkpoint(ckpt)[1]["state"]["step"]
    assert 3 <= killed_at < 8

    output = path.with_suffix(".dft") / "cp2k.out"
    before = len(output.read_text())
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    model = load_dft_method(
        "cp2k", atoms, path.with_suffix(".dft"), dft_installation(), ncores=1, settings=FAST
    )
    try:
        result = run_nvt(atoms, model, tiny_protocol(), 800.0, 7, path)
        # Step numbers continue where the run was killed (errors name the right MD step).
        assert model.calculator.md_step == 8 + 1
    finally:
        model.calculator.close()
    assert result.n_invocations == 2 and result.n_frames == 9
    stored = read_trajectory(path)
    assert np.round(stored.time_ps * 1000).tolist() == list(range(9))
    out = output.read_text()
    # The new process computed the checkpointed step again, then only the steps after it ...
    assert out[before:].count("ENERGY| Total FORCE_EVAL") == 8 - killed_at + 1
    # ... starting from the wavefunction file, which only the first process lacked.
    assert out.count("User requested to restart the") == 1

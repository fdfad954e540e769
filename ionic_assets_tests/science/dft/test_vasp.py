"""dft-vasp: the inputs VASP would get (no VASP needed) and the errors when it cannot run.

POTCARs are licensed: a fake potentials folder holds one-line stubs, enough to check which
POTCAR each element gets.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from ionic_assets.lib.methods import dft_installation
from ionic_assets.science.dft import load_dft_method
from ionic_assets.science.dft.vasp import (
    build_vasp_calculator,
    check_vasp_available,
    potcar_symbols,
    vasp_identity,
)
from ionic_assets.science.errors import InputError

GVD_CIF = "/work/shared/obelix/all_randomized_cifs/gvd.cif"
# The Materials Project choice (pymatgen MPRelaxSet.yaml) for elements of the paper's materials.
MP_POTCARS = {
    "Li": "Li_sv",
    "N": "N",
    "O": "O",
    "Zr": "Zr_sv",
    "Ti": "Ti_pv",
    "Ga": "Ga_d",
    "Ge": "Ge_d",
    "Sn": "Sn_d",
    "Hf": "Hf_pv",
    "Y": "Y_sv",
    "V": "V_pv",
    "Cu": "Cu_pv",
    "La": "La",
    "Bi": "Bi",
}


@pytest.fixture
def li3n() -> Atoms:
    return Atoms(
        "Li3N",
        scaled_positions=[[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0], [0, 0, 0.5], [0, 0, 0]],
        cell=[[3.648, 0, 0], [-1.824, 3.1593, 0], [0, 0, 3.875]],
        pbc=True,
    )


@pytest.fixture
def vasp_env(tmp_path, monkeypatch):
    """A fake VASP installation: a command and stub POTCARs for Li_sv and N."""
    for symbol in ("Li_sv", "N", "Li"):
        folder = tmp_path / "pp" / "potpaw_PBE" / symbol
        folder.mkdir(parents=True)
        (folder / "POTCAR").write_text(f"  PAW_PBE {symbol} 01Jan2000\n")
    monkeypatch.delenv("ASE_VASP_COMMAND", raising=False)
    monkeypatch.setenv("VASP_COMMAND", "mpirun -np {ncores} vasp_gam")
    monkeypatch.setenv("VASP_PP_PATH", str(tmp_path / "pp"))
    return tmp_path


def _vasp():
    """The VASP installation the settings give now (the fixture's, or what a test removed)."""
    return dft_installation().vasp


def _incar(path) -> dict:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_potcars_follow_the_materials_project_mapping():
    atoms = Atoms(list(MP_POTCARS), positions=np.zeros((len(MP_POTCARS), 3)))
    assert potcar_symbols(atoms) == MP_POTCARS


def test_inputs_carry_the_paper_settings(li3n, vasp_env):
    calc = build_vasp_calculator(li3n, vasp_env / "run", _vasp(), ncores=64)
    calc.write_input(li3n)
    incar = _incar(vasp_env / "run" / "INCAR")
    assert incar["GGA"] == "PE"
    assert float(incar["ENCUT"]) == 520
    assert incar["ISPIN"] == "1"
    assert incar["LDAU"] == ".FALSE."
    assert incar["ISYM"] == "0" and incar["LREAL"] == "Auto"
    assert incar["IBRION"] == "-1" and incar["NSW"] == "0"  # ASE integrates; VASP does steps
    assert incar["ISTART"] == "1" and incar["LWAVE"] == ".TRUE."  # next step reads WAVECAR
    assert float(incar["EDIFF"]) == 1e-5 and incar["ALGO"] == "Fast"
    assert incar["NCORE"] == "8"
    assert "MAGMOM" not in incar
    kpoints = (vasp_env / "run" / "KPOINTS").read_text().splitlines()
    assert kpoints[1:4] == ["0", "Gamma", "1 1 1"]
    potcar = (vasp_env / "run" / "POTCAR").read_text().split()
    assert potcar == ["PAW_PBE", "Li_sv", "01Jan2000", "PAW_PBE", "N", "01Jan2000"]
    assert calc.command == "mpirun -np 64 vasp_gam"


def test_inputs_of_a_real_obelix_structure(vasp_env):
    atoms = read(GVD_CIF)
    calc = build_vasp_calculator(atoms, vasp_env / "run", _vasp(), ncores=2)
    calc.write_input(atoms)
    assert "Li_sv" in (vasp_env / "run" / "POTCAR").read_text()
    assert _incar(vasp_env / "run" / "INCAR")["NCORE"] == "1"


def test_missing_command_is_an_input_error(li3n, vasp_env, monkeypatch):
    monkeypatch.delenv("VASP_COMMAND")
    with pytest.raises(InputError, match="VASP_COMMAND"):
        check_vasp_available(_vasp(), li3n)


def test_missing_potentials_path_is_an_input_error(li3n, vasp_env, monkeypatch):
    monkeypatch.delenv("VASP_PP_PATH")
    with pytest.raises(InputError, match="VASP_PP_PATH"):
        build_vasp_calculator(li3n, vasp_env / "run", _vasp())


def test_missing_potcar_names_the_element(vasp_env):
    atoms = Atoms("Li2O", positions=np.zeros((3, 3)))
    with pytest.raises(InputError, match="POTCAR O for element O"):
        check_vasp_available(_vasp(), atoms)


def test_element_outside_the_mapping_is_an_input_error():
    with pytest.raises(InputError, match="Po"):
        potcar_symbols(Atoms("LiPo", positions=np.zeros((2, 3))))


def test_identity_records_settings_and_potcars(li3n, monkeypatch):
    monkeypatch.setenv("VASP_VERSION", "6.4.2")
    identity = vasp_identity(li3n, _vasp())
    assert {k: identity[k] for k in ("family", "name", "package", "package_version")} == {
        "family": "dft",
        "name": "dft-vasp",
        "package": "vasp",
        "package_version": "6.4.2",
    }
    settings = identity["settings"]
    assert settings["potcars"] == {"Li": "Li_sv", "N": "N"}
    assert settings["encut"] == 520 and settings["kpts"] == (1, 1, 1) and settings["gamma"]
    assert settings["ispin"] == 1 and settings["ldau"] is False


def test_load_dft_method_gives_a_model_for_the_md_runner(li3n, vasp_env):
    model = load_dft_method("vasp", li3n, vasp_env / "run", dft_installation(), ncores=4)
    assert model.identity["name"] == "dft-vasp" and model.device == "cpu"
    assert model.atomic_numbers == frozenset({3, 7})
    with pytest.raises(InputError, match="unknown DFT engine 'gaussian'"):
        load_dft_method("gaussian", li3n, vasp_env / "run", dft_installation())
    with pytest.raises(InputError, match="vasp: takes no settings overrides"):
        load_dft_method("vasp", li3n, vasp_env / "run", dft_installation(), settings={"encut": 400})
    with pytest.raises(InputError, match=r"cp2k: unknown setting\(s\) encut"):
        load_dft_method("cp2k", li3n, vasp_env / "run", dft_installation(), settings={"encut": 400})

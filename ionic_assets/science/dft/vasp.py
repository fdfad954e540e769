"""VASP settings of the paper's AIMD (appendix A.4) as an ASE calculator: method ``dft-vasp``.

The paper's choices:
  GGA = PE        PBE exchange-correlation
  POTCARs         PAW, the Materials Project choice of pymatgen's ``MPRelaxSet`` (Li -> Li_sv,
                  Ti -> Ti_pv, Zr -> Zr_sv, Ga -> Ga_d, ...), from the ``potpaw_PBE`` set that
                  MPRelaxSet names (POTCAR_FUNCTIONAL: PBE)
  ENCUT = 520     eV, plane-wave cutoff
  KPOINTS         Gamma-centred 1x1x1
  ISPIN = 1       not spin-polarized
  LDAU = False    no Hubbard U (MPRelaxSet's U values are not applied)

Electronic settings for AIMD, following pymatgen's ``MPMDSet`` (the Materials Project AIMD set)
where the paper says nothing:
  PREC = Normal, ALGO = Fast, LASPH = True (as in all MP data, aspherical gradient corrections
  inside the PAW spheres), LREAL = Auto (real-space projectors, the usual choice for supercells
  of 50+ atoms), ISMEAR = 0 with SIGMA = 0.05 eV (Gaussian smearing: safe for insulators and for
  a Gamma-only metal alike), ISYM = 0 (MD breaks every symmetry), EDIFF = 1e-5 eV per cell
  (MPMDSet uses 1e-5 eV per atom, too loose for forces in cells of 100+ atoms), NELM = 100 with
  NELMIN = 4.

ASE integrates the equations of motion (the platform's NVT runner), so each MD step is a VASP
single point: IBRION = -1, NSW = 0. ISTART = 1 with LWAVE = True makes every step start from the
previous step's WAVECAR in `directory` (VASP starts from random wavefunctions when it is absent,
e.g. on the first step), also after the pod restarts; LCHARG = False.

The installation (`VaspInstallation`) is the caller's to give; the platform reads it from
VASP_COMMAND or ASE_VASP_COMMAND, VASP_PP_PATH and VASP_VERSION (`lib/settings.py`):
  command   how to run VASP, e.g. ``mpirun -np {ncores} vasp_gam``; ``{ncores}`` is replaced by
            the CPU count. The Gamma-only build ``vasp_gam`` is about twice as fast as
            ``vasp_std`` for these 1x1x1 runs.
  pp_path   folder holding ``potpaw_PBE/<symbol>/POTCAR``.
  version   recorded as the package version (VASP has no version flag; the OUTCAR header
            appears only after the first step, too late for the run identity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.vasp import Vasp
from pymatgen.io.vasp.sets import MPRelaxSet

from ionic_assets.science.dft.sizing import available_cpus
from ionic_assets.science.errors import InputError

METHOD = "dft-vasp"
POTENTIAL_SET = "potpaw_PBE"


@dataclass(frozen=True)
class VaspInstallation:
    """How VASP runs here (see the module docstring); None where it is not configured."""

    command: str | None
    pp_path: Path | None
    version: str


#: The paper's settings and the AIMD electronic settings, as ASE `Vasp` keywords (INCAR in lower
#: case, plus kpts/gamma for KPOINTS). POTCAR choice (`setups`) is added per structure.
VASP_SETTINGS = {
    "xc": "PBE",
    "pp": "PBE",
    "encut": 520,
    "kpts": (1, 1, 1),
    "gamma": True,
    "ispin": 1,
    "ldau": False,
    "prec": "Normal",
    "algo": "Fast",
    "lasph": True,
    "lreal": "Auto",
    "ismear": 0,
    "sigma": 0.05,
    "isym": 0,
    "ediff": 1e-5,
    "nelm": 100,
    "nelmin": 4,
    "ibrion": -1,
    "nsw": 0,
    "istart": 1,
    "lwave": True,
    "lcharg": False,
}


def mp_potcar_symbols() -> dict[str, str]:
    """Element -> POTCAR symbol of the Materials Project (pymatgen's ``MPRelaxSet``)."""
    return dict(MPRelaxSet.CONFIG["POTCAR"])


def potcar_symbols(atoms: Atoms) -> dict[str, str]:
    """POTCAR symbol of each element of `atoms` (e.g. {"Li": "Li_sv", "N": "N"})."""
    mapping = mp_potcar_symbols()
    elements = sorted(set(atoms.get_chemical_symbols()))
    missing = [element for element in elements if element not in mapping]
    if missing:
        raise InputError(f"{METHOD}: no Materials Project POTCAR for element(s) {missing}")
    return {element: mapping[element] for element in elements}


def vasp_settings(atoms: Atoms) -> dict:
    """ASE `Vasp` keywords for `atoms`: `VASP_SETTINGS` plus the POTCAR `setups`.

    `setups` maps each element to its suffix (Li -> "_sv"), the form ASE expects.
    """
    symbols = potcar_symbols(atoms)
    setups = {element: symbol[len(element) :] for element, symbol in symbols.items()}
    return {**VASP_SETTINGS, "setups": setups}


def check_vasp_available(vasp: VaspInstallation, atoms: Atoms | None = None) -> None:
    """Raise InputError at once if `vasp` cannot run `atoms` here.

    Checks the command, the POTCAR folder, and (with `atoms`) each element's POTCAR file.
    """
    if not vasp.command:
        raise InputError(f"{METHOD}: set VASP_COMMAND (or ASE_VASP_COMMAND) to run VASP")
    if not vasp.pp_path or not vasp.pp_path.is_dir():
        raise InputError(f"{METHOD}: VASP_PP_PATH must name the folder holding {POTENTIAL_SET}/")
    for element, symbol in potcar_symbols(atoms or Atoms()).items():
        potcar = vasp.pp_path / POTENTIAL_SET / symbol / "POTCAR"
        if not potcar.is_file():
            raise InputError(f"{METHOD}: POTCAR {symbol} for element {element} missing: {potcar}")


def build_vasp_calculator(
    atoms: Atoms, directory: str | Path, vasp: VaspInstallation, ncores: int | None = None
) -> Vasp:
    """ASE `Vasp` calculator with the paper's settings, running `vasp` in `directory` on `ncores`
    CPUs.

    `ncores` (default: the CPUs available to this process) replaces ``{ncores}`` in the VASP
    command and sets NCORE, VASP's band-parallel group size, to the largest divisor of `ncores`
    not above its square root (VASP's advice; 8 for 64 ranks).
    """
    check_vasp_available(vasp, atoms)
    ncores = ncores or available_cpus()
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Vasp(
        directory=str(directory),
        command=vasp.command.replace("{ncores}", str(ncores)),
        ncore=_ncore(ncores),
        **vasp_settings(atoms),
    )


def vasp_identity(atoms: Atoms, vasp: VaspInstallation) -> dict:
    """What identifies ``dft-vasp`` runs of `atoms` with `vasp`, recorded with every trajectory."""
    settings = {**VASP_SETTINGS, "potcars": potcar_symbols(atoms), "potcar_set": POTENTIAL_SET}
    return {
        "family": "dft",
        "name": METHOD,
        "package": "vasp",
        "package_version": vasp.version,
        "settings": settings,
    }


def _ncore(ncores: int) -> int:
    return max(d for d in range(1, math.isqrt(ncores) + 1) if ncores % d == 0)

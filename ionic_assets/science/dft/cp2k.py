"""CP2K, the open-source DFT engine of the platform, as an ASE calculator: method ``dft-cp2k``.

Settings, chosen as close to the paper's VASP ones (see `vasp`) as a Gaussian-and-plane-waves
code allows:

  ==================  =============================  ======================================
  what                VASP (paper)                   CP2K (here)
  ==================  =============================  ======================================
  functional          PBE                            PBE
  core electrons      PAW, MP POTCARs (Li_sv, ...)   GTH-PBE norm-conserving pseudopotentials
                                                     with the valence of the MOLOPT-SR basis
                                                     (Li q3 = 1s2s like Li_sv, Zr q12 like
                                                     Zr_sv, Ga q13 like Ga_d; but Ge, Sn q4
                                                     without the d shell of Ge_d, Sn_d)
  valence basis       plane waves, ENCUT 520 eV      Gaussians DZVP-MOLOPT-SR-GTH (BASIS_MOLOPT;
                                                     La and lanthanides from BASIS_MOLOPT_UCL)
  grids               ENCUT 520 eV (density 4x)      density cutoff 400 Ry, REL_CUTOFF 60 Ry
  k-points            Gamma 1x1x1                    Gamma only (CP2K's default)
  spin                ISPIN 1                        restricted Kohn-Sham (UKS off)
  Hubbard U           none                           none
  SCF convergence     EDIFF 1e-5 eV                  EPS_SCF 1e-6 (OT: orbital gradient; the
                                                     energy is then converged to ~1e-9 Ha),
                                                     EPS_DEFAULT 1e-10 (integral screening)
  smearing            Gaussian 0.05 eV               none; Fermi-Dirac 580 K (0.05 eV) in the
                                                     fallback below
  ==================  =============================  ======================================

SCF: orbital transformation (OT) with DIIS and the FULL_SINGLE_INVERSE preconditioner, 50 inner
steps inside up to 10 outer loops. OT is the robust and fast choice for insulators (every
solid electrolyte of the paper); it needs a band gap, which a Gamma-only supercell of a
metallic phase may lack. Between MD steps the CP2K process stays alive (ASE's shell mode) and
extrapolates the wavefunction with ASPC (order 3), so a step typically needs 5-10 SCF steps.

Retry policy: after every force evaluation the calculator reads what CP2K appended to its
output file; "SCF run NOT converged" there makes it rebuild the CP2K input with the fallback
SCF -- diagonalization, Broyden mixing, Fermi-Dirac smearing at 580 K, 200 steps, from the atomic
guess -- and repeat the same step. The fallback then stays in use for the rest of the process
(for an insulator it gives the same ground state, for a small-gap system it is what converges).
A step that the fallback does not converge either raises `ScfNotConverged` naming the MD step.

Restart: CP2K writes the wavefunction to ``<directory>/cp2k-RESTART.wfn`` after every SCF, and a
new calculator in the same directory starts from it (SCF_GUESS RESTART; CP2K falls back to the
atomic guess with a warning when the file is absent), so a restarted pod resumes from the last
wavefunction rather than from scratch.

Parallelism: `ncores` MPI ranks with one OpenMP thread each (``mpiexec -n ncores cp2k.psmp -s``);
one rank with `ncores` OpenMP threads when ``mpiexec`` is missing. Pure MPI is the faster of the
two for Debian's build. The cost of a step is dominated by the real-space grids; what a run cost
is recorded with it (`md_trajectories`: wall time, CPU hours).

Requirements: Debian packages ``cp2k`` (the MPI build ``cp2k.psmp``, ``mpiexec`` from
``openmpi-bin``) and ``cp2k-data`` (basis sets and pseudopotentials in /usr/share/cp2k). The
caller gives the data folder (`data_dir`; the platform's: CP2K_DATA_DIR, `lib/settings.py`).

Units: energies eV, forces eV/Angstrom (ASE's), cutoffs Ry, electronic temperature K.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
import shutil
import subprocess
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.calculators.cp2k import CP2K

from ionic_assets.science.dft.sizing import available_cpus
from ionic_assets.science.errors import InputError, NotConverged

METHOD = "dft-cp2k"
BINARIES = ("cp2k.psmp", "cp2k.popt")
BASIS_FILES = ("BASIS_MOLOPT", "BASIS_MOLOPT_UCL")
POTENTIAL_FILE = "GTH_POTENTIALS"
PROJECT = "cp2k"
NOT_CONVERGED = b"SCF run NOT converged"
# OpenMPI refuses root without these; the vader setting avoids the CMA (ptrace) copy that
# container runtimes forbid; oversubscription lets ranks = CPUs on hyper-threaded nodes.
MPI_ENV = (
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
    "OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1"
)
ENTRY_HEADER = re.compile(r"^\s*([A-Z][a-z]?)\s+([A-Za-z].*?)\s*$")


class ScfNotConverged(NotConverged):
    """The SCF of an MD step did not converge, not even with the fallback settings."""


@dataclass(frozen=True)
class Cp2kSettings:
    """Electronic-structure settings of ``dft-cp2k`` (see the module docstring).

    Attributes:
        xc: exchange-correlation functional.
        basis_set: basis family; each element gets its ``<family>-q<valence>`` entry.
        pseudopotential: GTH family; each element gets ``<family>-q<valence>``.
        cutoff_Ry, rel_cutoff_Ry: plane-wave cutoff of the finest density grid and the
            relative cutoff that maps Gaussians to grids, in Ry.
        eps_default: CP2K's overall screening threshold (integrals, neighbour lists).
        eps_scf: SCF convergence threshold.
        max_scf, max_outer_scf: OT steps per outer loop and number of outer loops.
        fallback_max_scf: diagonalization steps of the fallback SCF.
        fallback_smearing_K: Fermi-Dirac electronic temperature of the fallback, in K.
    """

    xc: str = "PBE"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    pseudopotential: str = "GTH-PBE"
    cutoff_Ry: float = 400.0
    rel_cutoff_Ry: float = 60.0
    eps_default: float = 1e-10
    eps_scf: float = 1e-6
    max_scf: int = 50
    max_outer_scf: int = 10
    fallback_max_scf: int = 200
    fallback_smearing_K: float = 580.0


@dataclass(frozen=True)
class Kind:
    """Basis set and pseudopotential of one element; `valence` electrons per atom."""

    element: str
    basis_file: str
    basis_set: str
    potential: str
    valence: int


class Cp2kCalculator(CP2K):
    """ASE's CP2K shell calculator with the SCF check and fallback of the module docstring.

    `md_step` counts the force evaluations done (ASE's integrators evaluate once per MD step,
    after the initial one of step 0); a runner resuming at step n sets it to n so that errors
    name the right step. `on_fallback` tells whether the fallback SCF is in use.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, fallback_inp: str, workdir: Path, **kwargs):
        super().__init__(**kwargs)
        self.fallback_inp = fallback_inp
        self.output = workdir / f"{self.label}.out"
        self.md_step = 0
        self.on_fallback = False

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        converged = self._calculate_checked(atoms, properties, system_changes)
        if not converged and not self.on_fallback:
            self._release_force_env()
            self.parameters.inp = self.fallback_inp
            self.on_fallback = True
            converged = self._calculate_checked(atoms, properties, all_changes)
        if not converged:
            raise ScfNotConverged(
                f"{METHOD}: SCF did not converge at MD step {self.md_step}, not even with the "
                f"fallback (diagonalization, Broyden mixing, smearing); see {self.output}"
            )
        self.results.pop("stress", None)  # not computed (no STRESS_TENSOR): CP2K returns zeros
        self.md_step += 1

    def _calculate_checked(self, atoms, properties, system_changes) -> bool:
        """Run CP2K's calculation; False if its output reports an unconverged SCF."""
        out = self.output
        start = out.stat().st_size if out.exists() else 0
        with warnings.catch_warnings():
            # ASE warns for > 100 atoms on MPI builds; 200 atoms passed through mpiexec at once.
            warnings.filterwarnings("ignore", message="ASE may stall")
            super().calculate(atoms, properties, system_changes)
        with out.open("rb") as handle:
            handle.seek(start)
            return NOT_CONVERGED not in handle.read()


def cp2k_binary() -> str:
    """Path of the CP2K MPI executable on PATH; InputError if there is none."""
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    raise InputError(
        f"{METHOD}: no CP2K executable ({' or '.join(BINARIES)}) on PATH; "
        "install the Debian package cp2k"
    )


def cp2k_command(ncores: int) -> str:
    """Shell command that starts the CP2K shell on `ncores` CPUs (MPI ranks if possible)."""
    binary = cp2k_binary()
    mpiexec = shutil.which("mpiexec")
    if ncores == 1 or mpiexec is None:
        return f"env OMP_NUM_THREADS={ncores} {binary} -s"
    return f"env OMP_NUM_THREADS=1 {MPI_ENV} {mpiexec} -n {ncores} {binary} -s"


@functools.cache
def _entries(path: Path) -> dict[str, list[list[str]]]:
    """Element -> the name lists of its entries in a CP2K basis or potential file, in order."""
    entries: dict[str, list[list[str]]] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            match = ENTRY_HEADER.match(line)
            if match:
                entries.setdefault(match[1], []).append(match[2].split())
    return entries


def element_kind(element: str, settings: Cp2kSettings, data_dir: Path) -> Kind:
    """Basis set and matching pseudopotential of `element`; InputError if either is missing."""
    basis_file, basis_set, valence = _basis_entry(element, settings, data_dir)
    potential = f"{settings.pseudopotential}-q{valence}"
    entries = _entries(data_dir / POTENTIAL_FILE).get(element, [])
    if not any(potential in names for names in entries):
        raise InputError(
            f"{METHOD}: no pseudopotential {potential} for element {element} "
            f"(basis {basis_set}) in {data_dir / POTENTIAL_FILE}"
        )
    return Kind(element, basis_file, basis_set, potential, valence)


def _basis_entry(element: str, settings: Cp2kSettings, data_dir: Path) -> tuple[str, str, int]:
    """(file, name, valence) of the first ``<basis_set>-q<valence>`` entry in `BASIS_FILES`."""
    pattern = re.compile(re.escape(settings.basis_set) + r"-q(\d+)")
    for basis_file in BASIS_FILES:
        for names in _entries(data_dir / basis_file).get(element, []):
            match = next(filter(None, map(pattern.fullmatch, names)), None)
            if match:
                return basis_file, match[0], int(match[1])
    raise InputError(
        f"{METHOD}: no {settings.basis_set} basis set for element {element} "
        f"in {', '.join(BASIS_FILES)} under {data_dir}"
    )


def element_kinds(atoms: Atoms, settings: Cp2kSettings, data_dir: Path) -> dict[str, Kind]:
    """Element -> `Kind` for every element of `atoms`, from the basis-set and pseudopotential
    files in `data_dir`; InputError naming a missing one."""
    if not (data_dir / BASIS_FILES[0]).is_file():
        raise InputError(
            f"{METHOD}: {data_dir} holds no {BASIS_FILES[0]}; install the Debian package "
            "cp2k-data or set CP2K_DATA_DIR"
        )
    return {e: element_kind(e, settings, data_dir) for e in sorted(set(atoms.symbols))}


def cp2k_input(atoms: Atoms, kinds: dict, settings: Cp2kSettings, fallback: bool):
    """CP2K input template (ASE adds coordinates, cell, functional and project name).

    File names are bare: CP2K runs inside the work directory and finds its data files in
    CP2K_DATA_DIR (or its built-in data path), and it refuses input strings over 80 characters,
    which absolute paths of deep work directories exceed.
    """
    s = settings
    basis_files = sorted({k.basis_file for k in kinds.values()})
    files = [f"BASIS_SET_FILE_NAME {name}" for name in basis_files]
    kind_sections = [
        f"&KIND {k.element}\nBASIS_SET {k.basis_set}\nPOTENTIAL {k.potential}\n&END KIND"
        for k in kinds.values()
    ]
    scf = _fallback_scf(atoms, kinds, s) if fallback else _ot_scf(s)
    return "\n".join(
        [
            "&FORCE_EVAL\n&DFT",
            *files,
            f"POTENTIAL_FILE_NAME {POTENTIAL_FILE}",
            f"WFN_RESTART_FILE_NAME {PROJECT}-RESTART.wfn",
            f"&MGRID\nCUTOFF {s.cutoff_Ry}\nREL_CUTOFF {s.rel_cutoff_Ry}\n&END MGRID",
            f"&QS\nEPS_DEFAULT {s.eps_default}\nEXTRAPOLATION ASPC\nEXTRAPOLATION_ORDER 3\n&END QS",
            f"&SCF\nEPS_SCF {s.eps_scf}\n{scf}",
            "&PRINT\n&RESTART\nBACKUP_COPIES 0\n&END RESTART\n&END PRINT\n&END SCF",
            "&END DFT\n&SUBSYS",
            *kind_sections,
            "&END SUBSYS\n&END FORCE_EVAL",
        ]
    )


def _ot_scf(s: Cp2kSettings) -> str:
    return (
        f"SCF_GUESS RESTART\nMAX_SCF {s.max_scf}\n"
        "&OT\nMINIMIZER DIIS\nPRECONDITIONER FULL_SINGLE_INVERSE\n&END OT\n"
        f"&OUTER_SCF\nEPS_SCF {s.eps_scf}\nMAX_SCF {s.max_outer_scf}\n&END OUTER_SCF"
    )


def _fallback_scf(atoms: Atoms, kinds: dict, s: Cp2kSettings) -> str:
    occupied = math.ceil(sum(kinds[e].valence for e in atoms.symbols) / 2)
    return (
        f"SCF_GUESS ATOMIC\nMAX_SCF {s.fallback_max_scf}\nADDED_MOS {max(10, occupied // 10)}\n"
        "&DIAGONALIZATION\nALGORITHM STANDARD\n&END DIAGONALIZATION\n"
        "&MIXING\nMETHOD BROYDEN_MIXING\nALPHA 0.2\nNBROYDEN 8\n&END MIXING\n"
        f"&SMEAR ON\nMETHOD FERMI_DIRAC\nELECTRONIC_TEMPERATURE [K] {s.fallback_smearing_K}\n"
        "&END SMEAR"
    )


def build_cp2k_calculator(
    atoms: Atoms,
    directory: str | Path,
    data_dir: Path,
    ncores: int | None = None,
    settings: Cp2kSettings = Cp2kSettings(),
) -> Cp2kCalculator:
    """CP2K calculator for `atoms`, working in `directory`, with the basis sets and
    pseudopotentials of `data_dir`, on `ncores` CPUs (default: all available to this process).
    Starts the CP2K process.

    Raises InputError when CP2K is not installed or an element has no basis set/potential.
    """
    command = cp2k_command(ncores or available_cpus())
    kinds = element_kinds(atoms, settings, data_dir)
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return Cp2kCalculator(
        fallback_inp=cp2k_input(atoms, kinds, settings, fallback=True),
        inp=cp2k_input(atoms, kinds, settings, fallback=False),
        workdir=directory,
        label=PROJECT,
        command=f"cd {shlex.quote(str(directory))} && {command}",
        xc=settings.xc,
        basis_set=None,
        basis_set_file=None,
        potential_file=None,
        pseudo_potential=None,
        cutoff=None,
        max_scf=None,
        stress_tensor=False,
        print_level="LOW",
    )


@functools.cache
def cp2k_version() -> str:
    """CP2K's version, e.g. "2023.1", from ``cp2k.psmp --version``."""
    output = subprocess.run(
        [cp2k_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"CP2K version (\S+)", output)
    return match[1] if match else "unknown"


def cp2k_identity(atoms: Atoms, data_dir: Path, settings: Cp2kSettings = Cp2kSettings()) -> dict:
    """What identifies ``dft-cp2k`` runs of `atoms` (data files from `data_dir`), recorded with
    every trajectory."""
    kinds = element_kinds(atoms, settings, data_dir)
    return {
        "family": "dft",
        "name": METHOD,
        "package": "cp2k",
        "package_version": cp2k_version(),
        "settings": {
            **asdict(settings),
            "kpoints": "gamma",
            "spin_polarized": False,
            "hubbard_u": False,
            "basis_sets": {e: f"{k.basis_file}:{k.basis_set}" for e, k in kinds.items()},
            "pseudopotentials": {e: f"{POTENTIAL_FILE}:{k.potential}" for e, k in kinds.items()},
        },
    }

"""DFT engines for ab initio MD: ``vasp`` (the paper's, see `vasp`) and ``cp2k`` (open source,
runs anywhere CP2K is installed, see `cp2k`).

Both give ASE calculators that the platform's NVT runner
(`ionic_assets.science.md.ase_runner.run_nvt`) drives step by step, like the ML force models;
`resources` sizes their CPU pods. Where each engine is installed (`DftInstallation`) is the
caller's to say.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from ionic_assets.science.dft.cp2k import (
    Cp2kSettings,
    build_cp2k_calculator,
    cp2k_binary,
    cp2k_identity,
)
from ionic_assets.science.dft.vasp import (
    VaspInstallation,
    build_vasp_calculator,
    check_vasp_available,
    vasp_identity,
)
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import LoadedModel

ENGINES = ("vasp", "cp2k")


@dataclass(frozen=True)
class DftInstallation:
    """Where the DFT engines are installed: VASP's command, POTCARs and version; the folder of
    CP2K's basis sets and pseudopotentials."""

    vasp: VaspInstallation
    cp2k_data_dir: Path


def load_dft_method(
    engine: str,
    atoms: Atoms,
    directory: str | Path,
    installation: DftInstallation,
    ncores: int | None = None,
    settings: dict | None = None,
) -> LoadedModel:
    """The calculator of DFT `engine` (as `installation` says) for `atoms`, with its identity,
    ready for `run_nvt`.

    `directory` holds the engine's files (inputs, outputs, wavefunction restart); `ncores` CPUs
    (default: all available to this process). `settings` overrides fields of `Cp2kSettings`
    (cp2k only: the VASP settings are the paper's and fixed). Close the calculator when done
    (``model.calculator.close()`` ends CP2K's process).
    """
    check_settings(engine, settings)
    if engine == "vasp":
        vasp = installation.vasp
        calculator = build_vasp_calculator(atoms, directory, vasp, ncores)
        identity = vasp_identity(atoms, vasp)
    elif engine == "cp2k":
        cp2k_settings = _cp2k_settings(settings or {})
        data_dir = installation.cp2k_data_dir
        calculator = build_cp2k_calculator(atoms, directory, data_dir, ncores, cp2k_settings)
        identity = cp2k_identity(atoms, data_dir, cp2k_settings)
    else:
        raise InputError(f"unknown DFT engine {engine!r} (known: {', '.join(ENGINES)})")
    elements = frozenset(int(z) for z in atoms.numbers)
    return LoadedModel(calculator, "cpu", identity, elements)


def check_settings(engine: str, settings: dict | None) -> None:
    """InputError when `settings` are not valid overrides for `engine` (vasp takes none)."""
    if engine == "vasp" and settings:
        raise InputError(f"DFT engine vasp: takes no settings overrides, got {sorted(settings)}")
    if engine == "cp2k":
        _cp2k_settings(settings or {})


def check_available(engine: str, installation: DftInstallation) -> None:
    """InputError at once when `engine` cannot run here: VASP without its command or POTCAR
    folder, CP2K without its executable."""
    if engine == "vasp":
        check_vasp_available(installation.vasp)
    elif engine == "cp2k":
        cp2k_binary()


def _cp2k_settings(overrides: dict) -> Cp2kSettings:
    known = {f.name for f in dataclasses.fields(Cp2kSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"DFT engine cp2k: unknown setting(s) {', '.join(unknown)}")
    return Cp2kSettings(**overrides)

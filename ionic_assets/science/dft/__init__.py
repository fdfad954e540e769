"""DFT methods for ab initio MD: ``dft-vasp`` (the paper's, see `vasp`) and ``dft-cp2k`` (open
source, runs anywhere CP2K is installed, see `cp2k`).

Both give ASE calculators that the platform's NVT runner (`ionic_assets.science.md.run_nvt`)
drives step by step, like the ML force models; `resources` sizes their CPU pods.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms

from ionic_assets.science.dft.cp2k import build_cp2k_calculator, cp2k_identity
from ionic_assets.science.dft.vasp import build_vasp_calculator, vasp_identity
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import LoadedModel

DFT_METHODS = ("dft-vasp", "dft-cp2k")


def load_dft_method(
    method: str, atoms: Atoms, directory: str | Path, ncores: int | None = None
) -> LoadedModel:
    """The calculator of DFT `method` for `atoms`, with its identity, ready for `run_nvt`.

    `directory` holds the engine's files (inputs, outputs, wavefunction restart); `ncores` CPUs
    (default: all available to this process).
    """
    if method == "dft-vasp":
        calculator, identity = build_vasp_calculator(atoms, directory, ncores), vasp_identity(atoms)
    elif method == "dft-cp2k":
        calculator, identity = build_cp2k_calculator(atoms, directory, ncores), cp2k_identity(atoms)
    else:
        raise InputError(f"unknown DFT method {method!r} (known: {', '.join(DFT_METHODS)})")
    elements = frozenset(int(z) for z in atoms.numbers)
    return LoadedModel(calculator, "cpu", identity, elements)

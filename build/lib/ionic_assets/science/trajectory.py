"""The in-memory trajectory every analysis works on, whatever produced it.

Positions are *unwrapped* Cartesian coordinates in Angstrom, so a displacement between any two
frames is a plain difference. Producers (the platform's own MD writer, importers of extxyz,
ASE .traj, VASP XDATCAR / vasprun.xml) all return this type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Atomic number of lithium, the mobile species every analysis follows.
LI = 3


def framework_rmsd_A(positions_A: np.ndarray, reference_A: np.ndarray) -> float:
    """RMS displacement (Angstrom) of framework atoms from their reference positions, with the
    framework's common drift removed (drift is not melting). Arrays are (n_atoms, 3)."""
    displacement = positions_A - reference_A
    displacement = displacement - displacement.mean(axis=0)
    return float(np.sqrt((displacement**2).sum(axis=1).mean()))


@dataclass(frozen=True)
class Trajectory:
    """An MD trajectory ready for transport analysis.

    Attributes:
        positions_A: (n_frames, n_atoms, 3) unwrapped Cartesian positions, Angstrom.
        time_ps: (n_frames,) simulation time of each frame, picoseconds, strictly increasing.
        cell_A: (3, 3) lattice vectors as rows, Angstrom (NVT: one cell for all frames).
        numbers: (n_atoms,) atomic numbers.
        temperature_K: target temperature of the run, kelvin (None if unknown).
        metadata: provenance (method, model identity, protocol, seed, package versions, ...).
    """

    positions_A: np.ndarray
    time_ps: np.ndarray
    cell_A: np.ndarray
    numbers: np.ndarray
    temperature_K: float | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.positions_A.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions_A.shape[1])

    @property
    def n_li(self) -> int:
        return len(self.indices_of(LI))

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.cell_A)))

    def framework_rmsd_max_A(self) -> float | None:
        """Largest `framework_rmsd_A` (non-Li atoms) over frames from the first; None if all Li."""
        framework = np.flatnonzero(self.numbers != LI)
        if len(framework) == 0:
            return None
        start = self.positions_A[0, framework]
        return max(framework_rmsd_A(frame[framework], start) for frame in self.positions_A)

    def indices_of(self, atomic_number: int) -> np.ndarray:
        """Indices of the atoms of one element (3 for Li)."""
        return np.flatnonzero(self.numbers == atomic_number)

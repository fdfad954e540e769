"""One system of a batch: what `ase_runner.run_nvt` takes for one trajectory.

A batch is a list of these, of any sizes and temperatures; replicas of one (material,
temperature) are simply more systems with their own seed and trajectory path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms


@dataclass(frozen=True)
class System:
    """One trajectory to integrate in a batch.

    Attributes:
        atoms: the structure (periodic in 3D, no constraints); not modified.
        temperature_K: target temperature, kelvin.
        seed: seed of its initial velocities (as the ASE runner draws them).
        trajectory_path: its HDF5 trajectory; checkpoints go beside it (see `checkpoint`).
        provenance: recorded in its trajectory file (method, material, ...).
        on_checkpoint: called after each of its checkpoints (e.g. to upload the files).
        label: how logs name it ("LiNbO3 900 K").
    """

    atoms: Atoms
    temperature_K: float
    seed: int
    trajectory_path: Path
    provenance: dict = field(default_factory=dict)
    on_checkpoint: Callable[[], None] | None = None
    label: str = ""

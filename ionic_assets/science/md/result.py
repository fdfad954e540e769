"""What an MD run gives: `MDResult` when it finished, and `Outcome` for a runner's systems.

Both engines (`ase_runner`, `torchsim_runner`) return these, through the same `recorder`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ionic_assets.science.md.adaptive import MAX_DURATION
from ionic_assets.science.md.engine import Engine


@dataclass(frozen=True)
class MDResult:
    """What a finished run produced and what it cost.

    Attributes:
        trajectory_path: the HDF5 trajectory.
        protocol: protocol name; n_steps, timestep_fs: the steps simulated and their length.
        n_frames: frames in the trajectory (t = 0 included); n_atoms: atoms simulated.
        temperature_K: target temperature; mean_temperature_K: mean after equilibration.
        seed: seed of the initial velocities.
        thermostat, thermostat_params: ASE class path and the protocol's parameters.
        framework_rmsd_A_final, framework_rmsd_A_max: RMS displacement (Angstrom) of the non-Li
            atoms from their initial positions, framework drift removed, at the last frame and
            the largest over frames. A crystal stays well below ~1 A; a molten framework grows
            without bound. None when every atom is Li.
        wall_time_s: wall time of the steps that made the trajectory, summed over invocations
            (time lost to a kill after the last checkpoint is not counted).
        n_steps_run: steps computed by the invocation that finished the run.
        steps_per_s, atom_steps_per_s: n_steps / wall_time_s, and that times n_atoms.
        device: torch device of the model; device_name: GPU name or CPU model.
        peak_host_memory_MB: peak resident memory of the process (max over invocations).
        peak_gpu_memory_MB: peak torch CUDA allocation, None on CPU.
        n_invocations: how many calls it took (1 if never interrupted).
        engine: the engine that integrated it (`engine.Engine`).
        stop_reason: "max_duration" (the protocol's full length), or an adaptive stop
            ("converged", "non_diffusive"; see `adaptive`).
        simulated_ps: simulated time, ps (n_steps x timestep_fs / 1000).
        std_temperature_K: standard deviation of the instantaneous temperature after
            equilibration (canonical: T sqrt(2 / degrees of freedom)).
    """

    trajectory_path: str
    protocol: str
    n_steps: int
    timestep_fs: float
    n_frames: int
    n_atoms: int
    temperature_K: float
    mean_temperature_K: float
    seed: int
    thermostat: str
    thermostat_params: dict
    framework_rmsd_A_final: float | None
    framework_rmsd_A_max: float | None
    wall_time_s: float
    n_steps_run: int
    steps_per_s: float
    atom_steps_per_s: float
    device: str
    device_name: str
    peak_host_memory_MB: float
    peak_gpu_memory_MB: float | None
    n_invocations: int
    engine: Engine
    stop_reason: str = MAX_DURATION
    simulated_ps: float | None = None
    std_temperature_K: float | None = None

    def to_dict(self) -> dict:
        """The fields as plain data (the engine by its value), as checkpoints store them."""
        return {**asdict(self), "engine": self.engine.value}

    @classmethod
    def from_dict(cls, fields: dict) -> MDResult:
        """The result `to_dict` gave. Results stored before the engine was recorded are the
        ASE runner's: it was the only engine then."""
        return cls(**{**fields, "engine": Engine(fields.get("engine", Engine.ASE.value))})


#: One system's outcome in a set of runs: its result, or the error that stopped it alone.
Outcome = MDResult | Exception

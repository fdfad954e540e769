"""NVT molecular dynamics that can be killed at any moment and resumed bit for bit.

`run_nvt` integrates a structure with a protocol's thermostat (see `protocols`), writes frames to
an HDF5 trajectory (see `trajectory_store`), and checkpoints the complete integrator state:
positions, momenta, the thermostat's chain variables, the step counter and the running
statistics. Started again with the same arguments after a crash or SIGKILL it continues from the
last checkpoint and ends with exactly the frames an uninterrupted run would have written; called
again after completion it returns the stored result without computing anything. "The same
arguments" means structure, temperature, seed, model identity and the protocol fields that shape
the trajectory (`TRAJECTORY_FIELDS`); output cadence and guards may change in between. Bitwise
equality needs forces that depend on the positions only: true of the MLIP calculators (they
rebuild their graph every call), not of ASE's EMT, whose neighbour list keeps a skin.

Files for ``trajectory_path = run.h5``: ``run.h5`` (frames), ``run.h5.ckpt`` (latest checkpoint)
and ``run.h5.ckpt.prev`` (the one before, used when the latest fails its checksum).

Frames are buffered in memory and written only right before a checkpoint, so the trajectory file
never holds frames the checkpoint does not know of, except after a kill between the two writes;
resuming truncates those.

Units: positions Angstrom (unwrapped: ASE's integrators never wrap them), time ps, time step fs,
temperature K, energies eV. Temperature is 2 E_kin / (3 N k_B), the definition the Nose-Hoover
chain thermostat controls.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.neighborlist import neighbor_list

from ionic_assets.science import trajectory_store as store
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.protocols import Protocol
from ionic_assets.science.trajectory import LI, framework_rmsd_A

# The protocol fields that shape the trajectory and its statistics. Others (checkpoint and
# progress cadence, guards, analysis settings, name) may change between a kill and the resume.
TRAJECTORY_FIELDS = (
    "timestep_fs",
    "duration_ps",
    "equilibration_ps",
    "thermostat",
    "frame_interval_steps",
)
CHECKPOINT_MAGIC = b"IAMDCKP1"
DIGEST_BYTES = 32


class MDGuardError(InputError):
    """A guard stopped the run (non-finite forces, atoms too close, temperature runaway).

    The frames computed before the failure are kept in the trajectory file.
    """


@dataclass(frozen=True)
class MDProgress:
    """Progress of a run, given to the `on_progress` callback.

    temperature_K is the running mean over the protocol's temperature window (or since the start
    while the window fills); steps_per_s and eta_s are measured in this invocation.
    """

    step: int
    n_steps: int
    time_ps: float
    temperature_K: float
    steps_per_s: float
    eta_s: float


@dataclass(frozen=True)
class MDResult:
    """What a finished run produced and what it cost.

    Attributes:
        trajectory_path: the HDF5 trajectory.
        protocol: protocol name; n_steps, timestep_fs: its length.
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

    def to_dict(self) -> dict:
        return asdict(self)


def run_nvt(
    atoms: Atoms,
    calculator: Calculator | LoadedModel,
    protocol: Protocol,
    temperature_K: float,
    seed: int,
    trajectory_path: str | Path,
    on_progress: Callable[[MDProgress], None] | None = None,
    provenance: dict | None = None,
    on_checkpoint: Callable[[], None] | None = None,
) -> MDResult:
    """Run (or resume, or return the finished) NVT trajectory of `atoms` at `temperature_K`.

    Velocities are drawn from the Maxwell-Boltzmann distribution with `seed`, the centre-of-mass
    momentum removed and the kinetic energy scaled to exactly `temperature_K`. `atoms` is not
    modified. A `LoadedModel` adds its identity to the provenance and its device to the cost.
    `on_checkpoint` is called right after each periodic checkpoint is written, when the
    trajectory file holds exactly the checkpoint's frames (e.g. to copy both to shared storage);
    the final state, written when the run completes, is the caller's to keep once this returns.

    Raises:
        MDGuardError: a guard stopped the run; the frames so far stay readable.
        StorageError: the trajectory or a checkpoint could not be written (e.g. disk full).
        InputError: the trajectory path holds another run, or the input is unusable.
    """
    run = _Run(
        atoms,
        calculator,
        protocol,
        float(temperature_K),
        int(seed),
        Path(trajectory_path),
        on_checkpoint,
    )
    return run.execute(on_progress, provenance or {})


@dataclass
class _State:
    """Everything besides the integrator that a resumed run needs to continue identically."""

    step: int
    n_frames: int
    temperature_window_K: np.ndarray
    framework_ref_A: np.ndarray
    temperature_sum_K: float = 0.0
    temperature_count: int = 0
    rmsd_last_A: float | None = None
    rmsd_max_A: float | None = None
    wall_time_s: float = 0.0
    peak_host_memory_MB: float = 0.0
    peak_gpu_memory_MB: float | None = None
    n_invocations: int = 1

    ARRAYS = ("temperature_window_K", "framework_ref_A")

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.ARRAYS}

    def scalars(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in self.ARRAYS}


class _Run:
    def __init__(
        self,
        atoms: Atoms,
        calculator: Calculator | LoadedModel,
        protocol: Protocol,
        temperature_K: float,
        seed: int,
        path: Path,
        on_checkpoint: Callable[[], None] | None = None,
    ):
        _check_atoms(atoms)
        self.protocol, self.temperature_K = protocol, temperature_K
        self.seed, self.path = seed, path
        self.on_checkpoint = on_checkpoint  # see run_nvt
        self.ckpt = path.with_name(path.name + ".ckpt")
        if isinstance(calculator, LoadedModel):
            self.model_identity, self.device = calculator.identity, calculator.device
            calculator = calculator.calculator
        else:
            self.model_identity, self.device = {"calculator": _class_path(calculator)}, "cpu"
        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.framework = np.flatnonzero(atoms.numbers != LI)
        self.frames: list[tuple[np.ndarray, float, int]] = []
        self.masses = atoms.get_masses()[:, np.newaxis]
        self.kinetic_to_K = 2 / (3 * len(atoms) * units.kB)

    # --- lifecycle --------------------------------------------------------------------------

    def execute(self, on_progress, provenance: dict) -> MDResult:
        self.run_key = self._run_key()
        checkpoint = load_checkpoint(self.ckpt)
        if checkpoint is None:
            self._start_fresh(provenance)
        else:
            arrays, meta = checkpoint
            if meta["run_key"] != self.run_key:
                raise InputError(
                    f"{self.ckpt} belongs to another run (structure, protocol, temperature, "
                    "seed or model differ); choose another trajectory path or delete it"
                )
            if meta["completed"]:
                return self._stored_result(meta)
            self._resume(arrays, meta)
        # t_started: this invocation's speed; t_counted: wall time not yet added to the state.
        self.t_started = self.t_counted = time.perf_counter()
        self.start_step = self.state.step
        self._loop(on_progress)
        return self._finish()

    def _start_fresh(self, provenance: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and store.read_provenance(self.path).get("run_key") != self.run_key:
            raise InputError(f"{self.path} holds another run; choose another trajectory path")
        rng = np.random.default_rng(self.seed)
        thermalize_momenta(self.atoms, self.temperature_K, exact_temperature=True, rng=rng)
        Stationary(self.atoms, preserve_temperature=True)
        self._new_dynamics()
        store.create_trajectory_file(
            self.path,
            numbers=self.atoms.numbers,
            cell_A=self.atoms.cell.array,
            temperature_K=self.temperature_K,
            timestep_fs=self.protocol.timestep_fs,
            frame_interval_steps=self.protocol.frame_interval_steps,
            provenance=self._provenance(provenance),
        )
        window = np.zeros(self.protocol.guards.temperature_window_steps)
        positions = self.atoms.get_positions()
        self.state = _State(0, 0, window, positions[self.framework])
        self._check_distances(0)
        self._buffer_frame(0)

    def _resume(self, arrays: dict, meta: dict) -> None:
        self._new_dynamics()
        _THERMOSTAT_STATE[self.protocol.thermostat.class_path][1](self.dyn, arrays)
        self.state = _State(**meta["state"], **{name: arrays[name] for name in _State.ARRAYS})
        self.state.n_invocations += 1
        if hasattr(self.atoms.calc, "md_step"):  # DFT calculators name the failing step
            self.atoms.calc.md_step = self.state.step
        # Frames written after this checkpoint (kill between the two writes) are dropped.
        store.truncate_frames(self.path, self.state.n_frames)

    def _loop(self, on_progress) -> None:
        protocol, guards = self.protocol, self.protocol.guards
        for step in range(self.state.step + 1, protocol.n_steps + 1):
            self.dyn.step()
            self._check_finite(step)
            self._record_temperature(step)
            if step % guards.distance_check_interval_steps == 0:
                self._check_distances(step)
            if step % protocol.frame_interval_steps == 0:
                self._buffer_frame(step)
            self.state.step = step
            if step % protocol.checkpoint_interval_steps == 0 and step < protocol.n_steps:
                self._checkpoint()
            if on_progress is not None and step % protocol.progress_interval_steps == 0:
                on_progress(self._progress(step))

    def _finish(self) -> MDResult:
        self._flush_frames()
        self._update_cost()
        state, protocol = self.state, self.protocol
        result = MDResult(
            trajectory_path=str(self.path),
            protocol=protocol.name,
            n_steps=protocol.n_steps,
            timestep_fs=protocol.timestep_fs,
            n_frames=state.n_frames,
            n_atoms=len(self.atoms),
            temperature_K=self.temperature_K,
            mean_temperature_K=float(state.temperature_sum_K / state.temperature_count),
            seed=self.seed,
            thermostat=protocol.thermostat.class_path,
            thermostat_params=dict(protocol.thermostat.params),
            framework_rmsd_A_final=state.rmsd_last_A,
            framework_rmsd_A_max=state.rmsd_max_A,
            wall_time_s=state.wall_time_s,
            n_steps_run=protocol.n_steps - self.start_step,
            steps_per_s=protocol.n_steps / state.wall_time_s,
            atom_steps_per_s=protocol.n_steps * len(self.atoms) / state.wall_time_s,
            device=self.device,
            device_name=device_name(self.device),
            peak_host_memory_MB=state.peak_host_memory_MB,
            peak_gpu_memory_MB=state.peak_gpu_memory_MB,
            n_invocations=state.n_invocations,
        )
        self._write_checkpoint(result)
        return result

    def _stored_result(self, meta: dict) -> MDResult:
        result = MDResult(**meta["result"])
        if store.frame_count(self.path) != result.n_frames:
            raise InputError(
                f"{self.path}: has {store.frame_count(self.path)} frames but its finished run "
                f"wrote {result.n_frames}; delete {self.ckpt} to recompute"
            )
        return result

    # --- per step -----------------------------------------------------------------------------

    def _new_dynamics(self) -> None:
        self.dyn = _make_dynamics(self.atoms, self.protocol, self.temperature_K)
        # The Nose-Hoover chain integrator asks for forces twice a step, the first time at the
        # positions the last step ended on. Through Atoms.get_forces each request pays ASE's
        # cache check (np.allclose on every per-atom array, ~0.15 ms on a CPU core): a few % of
        # a fast GPU force call. Answering here is the same arithmetic (tested bitwise vs ASE).
        self.forces_at_A: np.ndarray | None = None
        self.dyn._get_forces = self._forces

    def _forces(self) -> np.ndarray:
        self.dyn._update_atoms()  # what ASE's own _get_forces does first
        positions, calc = self.atoms.arrays["positions"], self.atoms.calc
        if self.forces_at_A is None or not np.array_equal(self.forces_at_A, positions):
            changes = all_changes if self.forces_at_A is None else ["positions"]
            calc.calculate(self.atoms, ["energy", "forces"], changes)
            self.forces_at_A = positions.copy()
        return calc.results["forces"]

    def _check_finite(self, step: int) -> None:
        results = self.atoms.calc.results  # computed by the step at the current positions
        forces, energy = results["forces"], results.get("energy", 0.0)
        if not (np.isfinite(forces).all() and np.isfinite(energy)):
            self._stop(step, "non-finite forces or energy from the force model")

    def _record_temperature(self, step: int) -> None:
        # Not Atoms.get_kinetic_energy: its BLAS dot product rounds differently with memory
        # alignment, which would make a resumed run's statistics differ in the last bit.
        momenta = self.atoms.arrays["momenta"]
        temperature_K = 0.5 * float((momenta * momenta / self.masses).sum()) * self.kinetic_to_K
        state, guards = self.state, self.protocol.guards
        window = state.temperature_window_K
        window[step % len(window)] = temperature_K
        if step > self.protocol.equilibration_steps:
            state.temperature_sum_K += temperature_K
            state.temperature_count += 1
        # Judged after equilibration: a run started from a perfect lattice first loses half its
        # kinetic energy to the potential (equipartition) until the thermostat catches up.
        if step >= max(len(window), self.protocol.equilibration_steps):
            mean_K = window.mean()
            if abs(mean_K - self.temperature_K) > guards.max_temperature_deviation * (
                self.temperature_K
            ):
                self._stop(
                    step,
                    f"temperature ran away: mean {mean_K:.0f} K over the last {len(window)} "
                    f"steps vs target {self.temperature_K:.0f} K "
                    f"(limit {guards.max_temperature_deviation:.0%})",
                )

    def _check_distances(self, step: int) -> None:
        limit_A = self.protocol.guards.min_interatomic_distance_A
        i, j, d = neighbor_list("ijd", self.atoms, limit_A)
        if len(d):
            k = int(np.argmin(d))
            symbols = self.atoms.get_chemical_symbols()
            self._stop(
                step,
                f"atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are "
                f"{d[k]:.2f} A apart (limit {limit_A} A)",
            )

    def _buffer_frame(self, step: int) -> None:
        positions = self.atoms.get_positions()
        self.frames.append((positions, step * self.protocol.timestep_fs / 1000, step))
        if len(self.framework):
            rmsd = framework_rmsd_A(positions[self.framework], self.state.framework_ref_A)
            self.state.rmsd_last_A = rmsd
            self.state.rmsd_max_A = max(rmsd, self.state.rmsd_max_A or 0.0)

    def _progress(self, step: int) -> MDProgress:
        elapsed_s = time.perf_counter() - self.t_started
        rate = (step - self.start_step) / elapsed_s if elapsed_s > 0 else 0.0
        window = self.state.temperature_window_K
        recent = window if step >= len(window) else window[1 : step + 1]
        return MDProgress(
            step=step,
            n_steps=self.protocol.n_steps,
            time_ps=step * self.protocol.timestep_fs / 1000,
            temperature_K=float(recent.mean()),
            steps_per_s=rate,
            eta_s=(self.protocol.n_steps - step) / rate if rate > 0 else float("inf"),
        )

    def _stop(self, step: int, reason: str) -> None:
        self._flush_frames()
        raise MDGuardError(
            f"MD stopped at step {step} (t = {step * self.protocol.timestep_fs / 1000:.3f} ps): "
            f"{reason}; the {self.state.n_frames} frames before it are kept in {self.path}"
        )

    # --- output -------------------------------------------------------------------------------

    def _flush_frames(self) -> None:
        if not self.frames:
            return
        positions, times, steps = zip(*self.frames, strict=True)
        self.state.n_frames = store.append_frames(
            self.path,
            np.stack(positions).astype(np.float32),
            np.array(times),
            np.array(steps),
        )
        self.frames.clear()

    def _checkpoint(self) -> None:
        self._flush_frames()
        self._update_cost()
        self._write_checkpoint(None)
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    def _update_cost(self) -> None:
        state = self.state
        now = time.perf_counter()
        state.wall_time_s += now - self.t_counted
        self.t_counted = now
        rss_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        state.peak_host_memory_MB = max(state.peak_host_memory_MB, rss_MB)
        if self.device.startswith("cuda"):
            import torch

            gpu_MB = torch.cuda.max_memory_allocated(self.device) / 2**20
            state.peak_gpu_memory_MB = max(state.peak_gpu_memory_MB or 0.0, gpu_MB)

    def _write_checkpoint(self, result: MDResult | None) -> None:
        save_state = _THERMOSTAT_STATE[self.protocol.thermostat.class_path][0]
        meta = {
            "run_key": self.run_key,
            "completed": result is not None,
            "result": result.to_dict() if result else None,
            "state": self.state.scalars(),
        }
        write_checkpoint(self.ckpt, {**save_state(self.dyn), **self.state.arrays()}, meta)

    # --- identity -----------------------------------------------------------------------------

    def _run_key(self) -> str:
        """Hash of everything that determines the trajectory; a resume must match it."""
        identity = {k: v for k, v in self.model_identity.items() if k not in ("device",)}
        identity.pop("weights_path", None)  # the same weights may move; their hash may not
        protocol = self.protocol.to_dict()
        key = {
            "numbers": self.atoms.numbers.tolist(),
            "cell_A": self.atoms.cell.array.tolist(),
            "positions_sha256": hashlib.sha256(
                np.ascontiguousarray(self.atoms.positions, dtype=np.float64).tobytes()
            ).hexdigest(),
            "protocol": {name: protocol[name] for name in TRAJECTORY_FIELDS},
            "temperature_K": self.temperature_K,
            "seed": self.seed,
            "model": identity,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def _provenance(self, provenance: dict) -> dict:
        return {
            **provenance,
            "run_key": self.run_key,
            "protocol": self.protocol.to_dict(),
            "thermostat": {
                "class": self.protocol.thermostat.class_path,
                "params": self.protocol.thermostat.params,
            },
            "temperature_K": self.temperature_K,
            "seed": self.seed,
            "model": self.model_identity,
            "versions": {pkg: version(pkg) for pkg in ("ase", "numpy", "h5py", "ionic-assets")},
        }


def _check_atoms(atoms: Atoms) -> None:
    if atoms.constraints:
        raise InputError(f"{atoms.get_chemical_formula()}: constrained atoms are not supported")
    if not atoms.pbc.all():
        raise InputError(f"{atoms.get_chemical_formula()}: MD needs a cell periodic in 3D")


def _class_path(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _make_dynamics(atoms: Atoms, protocol: Protocol, temperature_K: float):
    module, _, name = protocol.thermostat.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    params = {
        key.removesuffix("_fs"): value * units.fs if key.endswith("_fs") else value
        for key, value in protocol.thermostat.params.items()
    }
    timestep = protocol.timestep_fs * units.fs
    return cls(atoms, timestep=timestep, temperature_K=temperature_K, **params)


# --- thermostat state: exactly what `step()` reads and writes, so a resume is bitwise ----------


def _nhc_state(dyn) -> dict[str, np.ndarray]:
    thermostat = dyn._thermostat
    return {"q": dyn._q, "p": dyn._p, "eta": thermostat._eta, "p_eta": thermostat._p_eta}


def _nhc_restore(dyn, arrays: dict[str, np.ndarray]) -> None:
    dyn._q, dyn._p = arrays["q"].copy(), arrays["p"].copy()
    dyn._thermostat._eta, dyn._thermostat._p_eta = arrays["eta"].copy(), arrays["p_eta"].copy()
    dyn._update_atoms()


_THERMOSTAT_STATE = {
    "ase.md.nose_hoover_chain.NoseHooverChainNVT": (_nhc_state, _nhc_restore),
}


# --- checkpoint files: MAGIC + sha256(payload) + payload (an .npz with a JSON "meta" entry) ----


def write_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Atomically replace `path` (temp file, fsync, rename), keeping the old one as .prev."""
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    payload = buffer.getvalue()
    try:
        if path.exists():
            os.replace(path, _previous(path))
        store.write_atomically(path, CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError as exc:
        raise store.StorageError(
            f"cannot write checkpoint {path}: {exc}; a rerun resumes from the one before"
        ) from exc


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The latest valid checkpoint (falling back to .prev), or None if there is none."""
    for candidate in (path, _previous(path)):
        if not candidate.exists():
            continue
        loaded = _read_checkpoint(candidate)
        if loaded is not None:
            return loaded
        warnings.warn(f"checkpoint {candidate} is corrupt; using the one before", stacklevel=3)
        candidate.unlink()  # so the next rotation does not keep it as the fallback
    return None


def _read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    blob = path.read_bytes()
    header = len(CHECKPOINT_MAGIC) + DIGEST_BYTES
    payload = blob[header:]
    if blob[: len(CHECKPOINT_MAGIC)] != CHECKPOINT_MAGIC or (
        hashlib.sha256(payload).digest() != blob[len(CHECKPOINT_MAGIC) : header]
    ):
        return None
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return arrays, json.loads(str(arrays.pop("meta")))


def _previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def device_name(device: str) -> str:
    """The GPU's name for a CUDA device, else the CPU model from /proc/cpuinfo."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return "cpu"

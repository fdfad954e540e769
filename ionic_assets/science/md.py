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
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.neighborlist import neighbor_list

from ionic_assets.science import adaptive
from ionic_assets.science import trajectory_store as store
from ionic_assets.science.diffusion import DEFAULT_SETTINGS
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
        engine: "ase" (this module's runner) or "torch-sim" (`science.batched`).
        stop_reason: "max_duration" (the protocol's full length), or an adaptive stop
            ("converged", "non_diffusive"; see `science.adaptive`).
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
    engine: str = "ase"
    stop_reason: str = adaptive.MAX_DURATION
    simulated_ps: float | None = None
    std_temperature_K: float | None = None

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
    temperature_sq_sum_K2: float = 0.0
    temperature_count: int = 0
    rmsd_last_A: float | None = None
    rmsd_max_A: float | None = None
    wall_time_s: float = 0.0
    peak_host_memory_MB: float = 0.0
    peak_gpu_memory_MB: float | None = None
    n_invocations: int = 1
    stop_reason: str | None = None

    ARRAYS = ("temperature_window_K", "framework_ref_A")

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.ARRAYS}

    def scalars(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in self.ARRAYS}


class Recorder:
    """One trajectory's bookkeeping, whichever engine integrates it: frames, guards, running
    statistics, adaptive stop, checkpoints and cost.

    The engine calls `begin` once, then `record` after every step with the step's temperature
    (K) and a function returning the positions (Angstrom; called only on the steps that need
    them), and `finish` at the end. `integrator_state` returns the engine's arrays that a
    checkpoint must hold (positions, momenta, thermostat chain, ...); `begin` returns them back
    on a resume. `engine` (None for the ASE runner) is part of the run key, so a trajectory
    is only ever resumed by the engine that started it.
    """

    def __init__(
        self,
        atoms: Atoms,
        protocol: Protocol,
        temperature_K: float,
        seed: int,
        path: Path,
        model_identity: dict,
        device: str,
        integrator_state: Callable[[], dict[str, np.ndarray]],
        on_checkpoint: Callable[[], None] | None = None,
        engine: str | None = None,
    ):
        _check_atoms(atoms)
        self.atoms = atoms.copy()  # numbers, cell and the positions the guards look at
        self.protocol, self.temperature_K = protocol, float(temperature_K)
        self.seed, self.path = int(seed), Path(path)
        self.ckpt = checkpoint_path(self.path)
        self.model_identity, self.device, self.engine = model_identity, device, engine
        self.integrator_state, self.on_checkpoint = integrator_state, on_checkpoint
        self.framework = np.flatnonzero(atoms.numbers != LI)
        self.frames: list[tuple[np.ndarray, float, int]] = []
        self.share = 1.0  # of the wall time, see set_share
        self.rule = adaptive.rule_from_dict(protocol.adaptive)
        self.run_key = run_key(
            atoms, protocol, self.temperature_K, self.seed, model_identity, engine
        )

    # --- lifecycle --------------------------------------------------------------------------

    def begin(
        self, positions_A: np.ndarray, provenance: dict, resume_step: int | None = None
    ) -> dict | MDResult | None:
        """The stored result of a finished run, the integrator arrays to resume from, or None
        after starting afresh (trajectory file created, frame 0 buffered). `resume_step`:
        resume from the checkpoint of that step when it is kept (see `load_checkpoint`)."""
        checkpoint = load_checkpoint(self.ckpt, resume_step)
        if checkpoint is None:
            self._start_fresh(positions_A, provenance)
            arrays = None
        else:
            arrays, meta = checkpoint
            if meta["run_key"] != self.run_key:
                raise InputError(
                    f"{self.ckpt} belongs to another run (structure, protocol, temperature, "
                    "seed, model or engine differ); choose another trajectory path or delete it"
                )
            if meta["completed"]:
                return self._stored_result(meta)
            self.state = _State(**meta["state"], **{name: arrays[name] for name in _State.ARRAYS})
            self.state.n_invocations += 1
            # Frames written after this checkpoint (kill between the two writes) are dropped.
            store.truncate_frames(self.path, self.state.n_frames)
        # t_started: this invocation's speed; t_counted: wall time not yet added to the state.
        self.t_started = self.t_counted = time.perf_counter()
        self.start_step = self.state.step
        return arrays

    def _start_fresh(self, positions_A: np.ndarray, provenance: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and store.read_provenance(self.path).get("run_key") != self.run_key:
            raise InputError(f"{self.path} holds another run; choose another trajectory path")
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
        self.state = _State(0, 0, window, positions_A[self.framework])
        self._check_distances(0, positions_A)
        self._buffer_frame(0, positions_A)

    @property
    def done(self) -> bool:
        """Whether the run has reached its last step or an adaptive stop."""
        return self.state.stop_reason is not None or self.state.step >= self.protocol.n_steps

    def record(
        self, step: int, temperature_K: float, positions: Callable[[], np.ndarray], finite: bool
    ) -> None:
        """Account for `step` (just integrated); MDGuardError if a guard trips."""
        protocol, guards = self.protocol, self.protocol.guards
        if not finite:
            self._stop(step, "non-finite forces or energy from the force model")
        self._record_temperature(step, temperature_K)
        if step % guards.distance_check_interval_steps == 0:
            self._check_distances(step, positions())
        if step % protocol.frame_interval_steps == 0:
            self._buffer_frame(step, positions())
            self._judge_adaptive(step)
        self.state.step = step
        if self.done:
            return
        if step % protocol.checkpoint_interval_steps == 0:
            self.checkpoint()

    def finish(self) -> MDResult:
        """Write the final frames and the completed checkpoint; the run's result."""
        self._flush_frames()
        self._update_cost()
        state, protocol = self.state, self.protocol
        steps, count = state.step, max(state.temperature_count, 1)
        mean_K = state.temperature_sum_K / count
        result = MDResult(
            trajectory_path=str(self.path),
            protocol=protocol.name,
            n_steps=steps,
            timestep_fs=protocol.timestep_fs,
            n_frames=state.n_frames,
            n_atoms=len(self.atoms),
            temperature_K=self.temperature_K,
            mean_temperature_K=float(mean_K),
            seed=self.seed,
            thermostat=protocol.thermostat.class_path,
            thermostat_params=dict(protocol.thermostat.params),
            framework_rmsd_A_final=state.rmsd_last_A,
            framework_rmsd_A_max=state.rmsd_max_A,
            wall_time_s=state.wall_time_s,
            n_steps_run=steps - self.start_step,
            steps_per_s=steps / state.wall_time_s,
            atom_steps_per_s=steps * len(self.atoms) / state.wall_time_s,
            device=self.device,
            device_name=device_name(self.device),
            peak_host_memory_MB=state.peak_host_memory_MB,
            peak_gpu_memory_MB=state.peak_gpu_memory_MB,
            n_invocations=state.n_invocations,
            engine=self.engine or "ase",
            stop_reason=state.stop_reason or adaptive.MAX_DURATION,
            simulated_ps=steps * protocol.timestep_fs / 1000,
            std_temperature_K=float(
                np.sqrt(max(state.temperature_sq_sum_K2 / count - mean_K**2, 0))
            ),
        )
        self._write_checkpoint(result)
        return result

    def set_share(self, share: float) -> None:
        """Count `share` (0-1] of the wall time from now on: a batch splits its time among its
        systems in proportion to their atoms."""
        self._update_cost()
        self.share = share

    def _stored_result(self, meta: dict) -> MDResult:
        result = MDResult(**meta["result"])
        if store.frame_count(self.path) != result.n_frames:
            raise InputError(
                f"{self.path}: has {store.frame_count(self.path)} frames but its finished run "
                f"wrote {result.n_frames}; delete {self.ckpt} to recompute"
            )
        return result

    # --- per step -----------------------------------------------------------------------------

    def _record_temperature(self, step: int, temperature_K: float) -> None:
        state, guards = self.state, self.protocol.guards
        window = state.temperature_window_K
        window[step % len(window)] = temperature_K
        if step > self.protocol.equilibration_steps:
            state.temperature_sum_K += temperature_K
            state.temperature_sq_sum_K2 += temperature_K * temperature_K
            state.temperature_count += 1
        # Judged after equilibration: a run started from a perfect lattice first loses half its
        # kinetic energy to the potential (equipartition) until the thermostat catches up.
        if step >= max(len(window), self.protocol.equilibration_steps):
            mean_K = window.mean()
            limit = guards.max_temperature_deviation
            if abs(mean_K - self.temperature_K) > limit * self.temperature_K:
                self._stop(
                    step,
                    f"temperature ran away: mean {mean_K:.0f} K over the last {len(window)} "
                    f"steps vs target {self.temperature_K:.0f} K (limit {limit:.0%})",
                )

    def _check_distances(self, step: int, positions_A: np.ndarray) -> None:
        limit_A = self.protocol.guards.min_interatomic_distance_A
        self.atoms.positions = positions_A
        i, j, d = neighbor_list("ijd", self.atoms, limit_A)
        if len(d):
            k = int(np.argmin(d))
            symbols = self.atoms.get_chemical_symbols()
            self._stop(
                step,
                f"atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are "
                f"{d[k]:.2f} A apart (limit {limit_A} A)",
            )

    def _buffer_frame(self, step: int, positions_A: np.ndarray) -> None:
        self.frames.append((positions_A, step * self.protocol.timestep_fs / 1000, step))
        if len(self.framework):
            rmsd = framework_rmsd_A(positions_A[self.framework], self.state.framework_ref_A)
            self.state.rmsd_last_A = rmsd
            self.state.rmsd_max_A = max(rmsd, self.state.rmsd_max_A or 0.0)

    def _judge_adaptive(self, step: int) -> None:
        protocol = self.protocol
        time_ps = step * protocol.timestep_fs / 1000
        if self.rule is None or not self.rule.due(time_ps) or step >= protocol.n_steps:
            return
        self._flush_frames()
        settings = replace(DEFAULT_SETTINGS, fit_start_ps=protocol.diffusion_fit_start_ps)
        decision = adaptive.evaluate(
            store.read_trajectory(self.path),
            self.rule,
            equilibration_ps=protocol.equilibration_ps,
            max_duration_ps=protocol.duration_ps,
            settings=settings,
        )
        if decision is not None:
            self.state.stop_reason = decision.reason

    def progress(self, step: int) -> MDProgress:
        """Progress at `step` (speed measured in this invocation)."""
        elapsed_s = time.perf_counter() - self.t_started
        rate = (step - self.start_step) / elapsed_s if elapsed_s > 0 else 0.0
        window = self.state.temperature_window_K
        recent = window if step >= len(window) else window[1 : step + 1]
        n_steps = self.protocol.n_steps
        return MDProgress(
            step=step,
            n_steps=n_steps,
            time_ps=step * self.protocol.timestep_fs / 1000,
            temperature_K=float(recent.mean()),
            steps_per_s=rate,
            eta_s=(n_steps - step) / rate if rate > 0 else float("inf"),
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

    def checkpoint(self) -> None:
        """Write the buffered frames and a checkpoint of the current step."""
        self._flush_frames()
        self._update_cost()
        self._write_checkpoint(None)
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    def _update_cost(self) -> None:
        state = self.state
        now = time.perf_counter()
        state.wall_time_s += (now - self.t_counted) * self.share
        self.t_counted = now
        rss_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        state.peak_host_memory_MB = max(state.peak_host_memory_MB, rss_MB)
        if self.device.startswith("cuda"):
            import torch

            gpu_MB = torch.cuda.max_memory_allocated(self.device) / 2**20
            state.peak_gpu_memory_MB = max(state.peak_gpu_memory_MB or 0.0, gpu_MB)

    def _write_checkpoint(self, result: MDResult | None) -> None:
        meta = {
            "run_key": self.run_key,
            "completed": result is not None,
            "result": result.to_dict() if result else None,
            "state": self.state.scalars(),
        }
        write_checkpoint(self.ckpt, {**self.integrator_state(), **self.state.arrays()}, meta)

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
            "engine": self.engine or "ase",
            "versions": {pkg: version(pkg) for pkg in ("ase", "numpy", "h5py", "ionic-assets")},
        }


def run_key(
    atoms: Atoms,
    protocol: Protocol,
    temperature_K: float,
    seed: int,
    model_identity: dict,
    engine: str | None = None,
) -> str:
    """Hash of everything that determines the trajectory; a resume must match it."""
    identity = {k: v for k, v in model_identity.items() if k not in ("device",)}
    identity.pop("weights_path", None)  # the same weights may move; their hash may not
    fields = protocol.to_dict()
    key = {
        "numbers": atoms.numbers.tolist(),
        "cell_A": atoms.cell.array.tolist(),
        "positions_sha256": hashlib.sha256(
            np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes()
        ).hexdigest(),
        "protocol": {name: fields[name] for name in TRAJECTORY_FIELDS},
        "temperature_K": temperature_K,
        "seed": seed,
        "model": identity,
    }
    if engine is not None:  # the ASE runner's keys stay what they were
        key["engine"] = engine
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class _Run:
    """The ASE runner: one trajectory integrated by the protocol's ASE dynamics class."""

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
        if isinstance(calculator, LoadedModel):
            identity, device = calculator.identity, calculator.device
            calculator = calculator.calculator
        else:
            identity, device = {"calculator": _class_path(calculator)}, "cpu"
        self.protocol, self.temperature_K, self.seed = protocol, temperature_K, seed
        self.recorder = Recorder(
            atoms, protocol, temperature_K, seed, path, identity, device,
            self._integrator_state, on_checkpoint,
        )  # fmt: skip
        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.masses = atoms.get_masses()[:, np.newaxis]
        self.kinetic_to_K = 2 / (3 * len(atoms) * units.kB)

    def execute(self, on_progress, provenance: dict) -> MDResult:
        self.atoms.set_momenta(initial_momenta(self.atoms, self.temperature_K, self.seed))
        self._new_dynamics()
        begun = self.recorder.begin(self.atoms.get_positions(), provenance)
        if isinstance(begun, MDResult):
            return begun
        if begun is not None:
            _THERMOSTAT_STATE[self.protocol.thermostat.class_path][1](self.dyn, begun)
            if hasattr(self.atoms.calc, "md_step"):  # DFT calculators name the failing step
                self.atoms.calc.md_step = self.recorder.state.step
        self._loop(on_progress)
        return self.recorder.finish()

    def _loop(self, on_progress) -> None:
        recorder, protocol = self.recorder, self.protocol
        for step in range(recorder.state.step + 1, protocol.n_steps + 1):
            self.dyn.step()
            results = self.atoms.calc.results  # computed by the step at the current positions
            finite = np.isfinite(results["forces"]).all() and np.isfinite(
                results.get("energy", 0.0)
            )
            recorder.record(step, self._temperature_K(), self.atoms.get_positions, finite)
            if on_progress is not None and step % protocol.progress_interval_steps == 0:
                on_progress(recorder.progress(step))
            if recorder.done:
                return

    def _temperature_K(self) -> float:
        # Not Atoms.get_kinetic_energy: its BLAS dot product rounds differently with memory
        # alignment, which would make a resumed run's statistics differ in the last bit.
        momenta = self.atoms.arrays["momenta"]
        return 0.5 * float((momenta * momenta / self.masses).sum()) * self.kinetic_to_K

    def _integrator_state(self) -> dict[str, np.ndarray]:
        return _THERMOSTAT_STATE[self.protocol.thermostat.class_path][0](self.dyn)

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


def initial_momenta(atoms: Atoms, temperature_K: float, seed: int) -> np.ndarray:
    """Maxwell-Boltzmann momenta drawn with `seed`, centre-of-mass momentum removed, kinetic
    energy scaled to exactly `temperature_K` (3N degrees of freedom); ASE units."""
    atoms = atoms.copy()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, exact_temperature=True, rng=rng)
    Stationary(atoms, preserve_temperature=True)
    return atoms.get_momenta()


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


def load_checkpoint(
    path: Path, step: int | None = None
) -> tuple[dict[str, np.ndarray], dict] | None:
    """The latest valid checkpoint (falling back to .prev), or None if there is none. With
    `step`: the one of that step if either file holds it (a batch resumes all its systems from
    one step, `science.batched.runner`), else the latest."""
    valid = []
    for candidate in (path, _previous(path)):
        if not candidate.exists():
            continue
        loaded = _read_checkpoint(candidate)
        if loaded is None:
            warnings.warn(f"checkpoint {candidate} is corrupt; using the one before", stacklevel=3)
            candidate.unlink()  # so the next rotation does not keep it as the fallback
            continue
        if step is None or loaded[1]["state"]["step"] == step:
            return loaded
        valid.append(loaded)
    return valid[0] if valid else None


def resumable_step(path: Path) -> int | None:
    """The step an unfinished run's latest checkpoint holds; None if none or finished."""
    checkpoint = load_checkpoint(path)
    if checkpoint is None or checkpoint[1]["completed"]:
        return None
    return checkpoint[1]["state"]["step"]


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


def checkpoint_path(trajectory_path: Path) -> Path:
    """Where a trajectory's checkpoint goes: beside it, `X.h5.ckpt` (the one before: `.prev`)."""
    return trajectory_path.with_name(trajectory_path.name + ".ckpt")


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

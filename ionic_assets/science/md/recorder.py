"""The bookkeeping both MD engines share: `Recorder` keeps one trajectory's frames, guards,
running statistics, adaptive stop, checkpoints and cost, whichever engine integrates it.

Frames are buffered in memory and written only right before a checkpoint, so the trajectory file
never holds frames the checkpoint does not know of, except after a kill between the two writes;
resuming truncates those. The run key (`run_key`) ties a trajectory file and its checkpoints to
the run that made them, so a resume never continues another run.

Units: positions Angstrom, time ps, time step fs, temperature K, memory MB.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from ionic_assets.science import trajectory_store as store
from ionic_assets.science.diffusion import DEFAULT_SETTINGS
from ionic_assets.science.errors import InputError
from ionic_assets.science.md import adaptive
from ionic_assets.science.md.checkpoint import checkpoint_path, load_checkpoint, write_checkpoint
from ionic_assets.science.md.engine import Engine
from ionic_assets.science.md.result import MDResult
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
    on a resume. `engine` is part of the run key, so a trajectory is only ever resumed by the
    engine that started it.
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
        engine: Engine,
        integrator_state: Callable[[], dict[str, np.ndarray]],
        on_checkpoint: Callable[[], None] | None = None,
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
            engine=self.engine,
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
        result = MDResult.from_dict(meta["result"])
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
            "engine": self.engine.value,
            "versions": {pkg: version(pkg) for pkg in ("ase", "numpy", "h5py", "ionic-assets")},
        }


def run_key(
    atoms: Atoms,
    protocol: Protocol,
    temperature_K: float,
    seed: int,
    model_identity: dict,
    engine: Engine,
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
    # The ASE runner's keys predate the engine entry; leaving it out keeps its old runs resumable.
    if engine is not Engine.ASE:
        key["engine"] = engine.value
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _check_atoms(atoms: Atoms) -> None:
    if atoms.constraints:
        raise InputError(f"{atoms.get_chemical_formula()}: constrained atoms are not supported")
    if not atoms.pbc.all():
        raise InputError(f"{atoms.get_chemical_formula()}: MD needs a cell periodic in 3D")


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

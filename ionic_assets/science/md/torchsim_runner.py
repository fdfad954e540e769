"""Integrate many NVT trajectories together in one process on one device with torch-sim.

`run_batch` takes `System`s of any sizes and temperatures and gives each what
`ase_runner.run_nvt` gives one trajectory: its own HDF5 trajectory, checkpoints, guards, adaptive
stop, seed, provenance and share of the cost, through the same `recorder.Recorder`. The batch
moves in lock step; a system that finishes, stops adaptively or trips a guard leaves it (with
its result or its one-line error) and the others go on with a smaller batch.

Kill and resume: all systems of a batch checkpoint at the same steps, each its own arrays
(`batch_state.system_arrays`), and all of them again whenever a system leaves, so a batch killed
at any moment resumes the same systems in the same batch from the last checkpoint they all hold
(`_common_step`) and writes the frames an uninterrupted batch would have written, on the same
device and torch thread count. The same batch matters: a system's forces depend on its
companions in the last bits of float32 (the merged graph sums in another order), so a memory
split or a companion leaving changes the rounding, not the physics.
Systems found at steps no common checkpoint reconciles (a batch whose systems started apart)
resume as separate batches, one per step.

Cost: the batch's wall time is shared among its running systems in proportion to their atoms.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ionic_assets.science import forcefields
from ionic_assets.science.errors import InputError, StorageError
from ionic_assets.science.forcefields import LoadedModel, torchsim_model
from ionic_assets.science.md import autobatch, batch_state, torchsim_thermostat
from ionic_assets.science.md.ase_runner import initial_momenta
from ionic_assets.science.md.checkpoint import checkpoint_path, resumable_step
from ionic_assets.science.md.engine import Engine
from ionic_assets.science.md.recorder import MDGuardError, Recorder
from ionic_assets.science.md.result import MDResult, Outcome
from ionic_assets.science.md.systems import System
from ionic_assets.science.protocols import Protocol


@dataclass(frozen=True)
class BatchProgress:
    """Progress of one batch: step reached, systems running, speed of this invocation."""

    step: int
    n_steps: int
    time_ps: float
    running: tuple[str, ...]
    temperatures_K: tuple[float, ...]
    atom_steps_per_s: float


@dataclass
class _Member:
    index: int  # in the caller's list
    system: System
    recorder: Recorder
    saved: dict | None  # arrays to resume from; None: a fresh start
    row: int = 0  # its system index in the current torch-sim state
    batch: _Batch | None = None


def run_batch(
    systems: list[System],
    model: LoadedModel,
    protocol: Protocol,
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
    max_memory_scaler: float | None = None,
    ts_model=None,
) -> list[Outcome]:
    """Run (or resume, or return the finished) trajectories of `systems`, batched.

    Returns one outcome per system, in order: its `MDResult`, or the exception that stopped it
    alone (InputError for elements the model does not cover or a path holding another run,
    MDGuardError, StorageError). `max_memory_scaler` caps a part's atoms x density (see
    `autobatch`; default: measured on a GPU, no cap on a CPU). `ts_model`: the torch-sim
    model computing `model`'s forces (default: its package's wrapper,
    `forcefields.torchsim_model`).

    Raises:
        NotBatchable: the model has no torch-sim wrapper (run the ASE runner instead).
    """
    ts_model = ts_model or torchsim_model(model)
    outcomes: list[Outcome | None] = [None] * len(systems)
    members = []
    resume_step = _common_step(systems)
    for index, system in enumerate(systems):
        try:
            member = _begin(index, system, model, protocol, resume_step)
        except (InputError, StorageError) as exc:
            outcomes[index] = exc
            continue
        if isinstance(member, MDResult):
            outcomes[index] = member
        else:
            members.append(member)
    by_step = itertools.groupby(
        sorted(members, key=lambda m: m.recorder.state.step), key=lambda m: m.recorder.state.step
    )
    for _, same_step in by_step:
        group = list(same_step)
        atoms = [m.system.atoms for m in group]
        for part in autobatch.memory_bins(atoms, ts_model, max_memory_scaler):
            _Batch([group[i] for i in part], ts_model, protocol, outcomes).run(on_progress)
    return outcomes


def _common_step(systems: list[System]) -> int | None:
    """The earliest step the unfinished systems' latest checkpoints hold. A kill between two
    systems' checkpoint writes leaves some one checkpoint ahead; they go back to their previous
    one (kept beside it), so all resume together, in the same batch, bit for bit."""
    steps = [resumable_step(checkpoint_path(Path(s.trajectory_path))) for s in systems]
    return min((s for s in steps if s is not None), default=None)


def _begin(index: int, system: System, model: LoadedModel, protocol: Protocol, resume_step):
    """The system's member of the batch, or its stored result if it finished before."""
    forcefields.check_elements(model, system.atoms)
    member = _Member(index, system, None, None)  # type: ignore[arg-type]
    member.recorder = Recorder(
        system.atoms,
        protocol,
        system.temperature_K,
        system.seed,
        system.trajectory_path,
        model.identity,
        model.device,
        Engine.TORCH_SIM,
        integrator_state=lambda: member.batch.arrays(member),
        on_checkpoint=system.on_checkpoint,
    )
    provenance = {
        **system.provenance,
        "integrator": torchsim_thermostat.integrator_settings(protocol),
    }
    begun = member.recorder.begin(system.atoms.get_positions(), provenance, resume_step)
    if isinstance(begun, MDResult):
        return begun
    member.saved = begun
    return member


class _Batch:
    """Systems moving in lock step in one torch-sim state."""

    def __init__(self, members: list[_Member], model, protocol: Protocol, outcomes: list):
        self.members, self.model, self.protocol, self.outcomes = members, model, protocol, outcomes
        for row, member in enumerate(members):
            member.row, member.batch = row, self
        atoms = [m.system.atoms for m in members]
        temperatures = [m.system.temperature_K for m in members]
        if members[0].saved is None:
            momenta = [initial_momenta(a, t, m.system.seed) for a, t, m in zip(
                atoms, temperatures, members, strict=True)]  # fmt: skip
            self.state = batch_state.init_state(atoms, momenta, temperatures, model, protocol)
        else:
            saved = [m.saved for m in members]
            self.state = batch_state.restore_state(atoms, saved, model, protocol)
        self.kT = batch_state.kT_eV(temperatures, model.device, model.dtype)
        self._reshare()

    def arrays(self, member: _Member) -> dict[str, np.ndarray]:
        return batch_state.system_arrays(self.state, member.row)

    def run(self, on_progress) -> None:
        import torch_sim as ts

        protocol = self.protocol
        dt = torchsim_thermostat.timestep(protocol)
        step = self.members[0].recorder.state.step
        t_start, atom_steps = time.perf_counter(), 0
        while self.members:
            step += 1
            self.state = ts.nvt_nose_hoover_step(self.state, self.model, dt=dt, kT=self.kT)
            atom_steps += self.state.n_atoms
            temperatures_K, finite = batch_state.temperatures_and_finite(self.state)
            positions = _LazyPositions(self.state)
            for member in self.members:
                self._record(member, step, temperatures_K, positions, finite)
            if on_progress is not None and step % protocol.progress_interval_steps == 0:
                rate = atom_steps / (time.perf_counter() - t_start)
                on_progress(self._progress(step, temperatures_K, rate))
            self._drop_finished()

    def _record(self, member: _Member, step, temperatures_K, positions, finite) -> None:
        row = member.row
        try:
            member.recorder.record(
                step, float(temperatures_K[row]), lambda: positions.of(row), bool(finite[row])
            )
            if member.recorder.done:
                self.outcomes[member.index] = member.recorder.finish()
        except (MDGuardError, StorageError) as exc:
            self.outcomes[member.index] = exc

    def _drop_finished(self) -> None:
        keep = [m for m in self.members if self.outcomes[m.index] is None]
        if len(keep) == len(self.members):
            return
        self.members = keep
        if keep:
            rows = [m.row for m in keep]
            self.state = batch_state.select(self.state, rows)
            self.kT = self.kT[rows]
            for row, member in enumerate(keep):
                member.row = row
                member.recorder.checkpoint()  # a resume then starts from this batch
            self._reshare()

    def _reshare(self) -> None:
        total = sum(len(m.system.atoms) for m in self.members)
        for member in self.members:
            member.recorder.set_share(len(member.system.atoms) / total)

    def _progress(self, step: int, temperatures_K, rate: float) -> BatchProgress:
        return BatchProgress(
            step=step,
            n_steps=self.protocol.n_steps,
            time_ps=step * self.protocol.timestep_fs / 1000,
            running=tuple(m.system.label for m in self.members),
            temperatures_K=tuple(float(t) for t in temperatures_K),
            atom_steps_per_s=rate,
        )


class _LazyPositions:
    """The batch's positions copied to the host once, on the first step that needs them."""

    def __init__(self, state):
        self.state, self.host = state, None

    def of(self, row: int) -> np.ndarray:
        if self.host is None:
            self.host = self.state.positions.detach().cpu().double().numpy()
            counts = self.state.n_atoms_per_system.cpu().numpy()
            self.offsets = np.concatenate([[0], np.cumsum(counts)])
        return self.host[self.offsets[row] : self.offsets[row + 1]].copy()

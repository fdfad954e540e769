"""Which engine runs a set of trajectories: batched torch-sim, or the ASE runner one by one.

Batching pays on a GPU (one 200-atom step leaves most of it idle) but not always on a CPU:
SevenNet's per-atom CPU cost grows with the graph, so one merged graph can be slower than the
systems one after another. The choice is therefore measured, on the device and systems at
hand, never assumed, and recorded with every trajectory (`EngineChoice.to_dict`):

    requested "ase"                          ase
    no torch-sim wrapper (CHGNet, DFT)       ase, with the reason
    a trajectory already started             the engine that started it (a resume must match)
    requested "torch-sim"                    torch-sim
    "auto"                                   torch-sim when a probe shows it at least
                                             BATCHING_MARGIN times faster: a few force
                                             evaluations of the same systems (the first part
                                             that fits in memory), batched vs one after
                                             another (atom-evaluations per second); else ase

A relaxation before MD (`science.relax`) is chosen by the same rule (`choose_batching`: nothing
to resume), so the cells are relaxed batched exactly when their MD would run batched.

The margin keeps a choice within the probe's noise with today's engine, so batching never makes
a run slower than the ASE runner would: on a few loaded CPU cores the probe's few calls per
engine can misjudge the MD's rate (measurements: data/benchmarks/batched_md.md), while on a GPU
batching is expected to gain far more than the margin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import all_changes

from ionic_assets.science import trajectory_store as store
from ionic_assets.science.forcefields import LoadedModel, NotBatchable, torchsim_model
from ionic_assets.science.md.autobatch import memory_bins
from ionic_assets.science.md.engine import AUTO, Engine, check_request
from ionic_assets.science.md.systems import System

#: Timed force evaluations per engine in the probe (after one untimed warm-up).
PROBE_EVALUATIONS = 2
#: How much faster the probe must show batching before it is chosen (see the docstring).
BATCHING_MARGIN = 1.2


@dataclass(frozen=True)
class EngineChoice:
    """The engine chosen, why, and the probe's rates (atom force evaluations per second)."""

    engine: Engine
    reason: str
    ase_atom_evals_per_s: float | None = None
    batched_atom_evals_per_s: float | None = None

    def to_dict(self) -> dict:
        """The fields as plain data (the engine by its value)."""
        return {**asdict(self), "engine": self.engine.value}


def choose_engine(model: LoadedModel, systems: list[System], requested: str = AUTO) -> EngineChoice:
    """The engine for `systems` with `model`; `requested`: an `Engine` value or AUTO (see the
    module docstring)."""
    return _choose(model, [s.atoms for s in systems], requested, lambda: _started_engines(systems))


def choose_batching(model: LoadedModel, cells: list[Atoms], requested: str = AUTO) -> EngineChoice:
    """The same rule for work on `cells` that has no trajectory to resume (a relaxation)."""
    return _choose(model, cells, requested, set)


def _choose(model, cells: list[Atoms], requested: str, started: Callable) -> EngineChoice:
    """The rule; `started()`: the engines of trajectories already begun (asked only for a
    batchable model)."""
    check_request(requested)
    if requested == Engine.ASE:
        return EngineChoice(Engine.ASE, "requested")
    try:
        ts_model = torchsim_model(model)
    except NotBatchable as exc:
        return EngineChoice(Engine.ASE, f"not batchable: {exc}")
    started = started()
    if started:
        engine = Engine.TORCH_SIM if Engine.TORCH_SIM in started else Engine.ASE
        return EngineChoice(engine, f"resumes trajectories started with {engine.value}")
    if requested == Engine.TORCH_SIM:
        return EngineChoice(Engine.TORCH_SIM, "requested")
    probed = [cells[i] for i in memory_bins(cells, ts_model)[0]]
    ase_rate = _ase_rate(model, probed)
    batched_rate = _batched_rate(ts_model, probed)
    engine = Engine.TORCH_SIM if batched_rate >= BATCHING_MARGIN * ase_rate else Engine.ASE
    reason = (
        f"measured on {model.device}: batched {batched_rate:.0f} vs one by one "
        f"{ase_rate:.0f} atom force evaluations/s for {len(probed)} systems (batched when "
        f">= {BATCHING_MARGIN:g}x)"
    )
    return EngineChoice(engine, reason, ase_rate, batched_rate)


def _started_engines(systems: list[System]) -> set[Engine]:
    """Engines recorded in the trajectory files that already exist (files written before the
    engine was recorded are the ASE runner's: it was the only engine then)."""
    return {
        Engine(store.read_provenance(path).get("engine", Engine.ASE.value))
        for path in (Path(s.trajectory_path) for s in systems)
        if path.exists()
    }


def _ase_rate(model: LoadedModel, cells: list[Atoms]) -> float:
    calculator, elapsed_s = model.calculator, 0.0
    for cell in cells:
        atoms = cell.copy()
        calculator.calculate(atoms, ["energy", "forces"], all_changes)  # warm-up
        start = time.perf_counter()
        for _ in range(PROBE_EVALUATIONS):
            calculator.calculate(atoms, ["energy", "forces"], all_changes)
        elapsed_s += time.perf_counter() - start
    return PROBE_EVALUATIONS * sum(len(a) for a in cells) / elapsed_s


def _batched_rate(ts_model, cells: list[Atoms]) -> float:
    import torch
    import torch_sim as ts

    state = ts.io.atoms_to_state(cells, device=ts_model.device, dtype=ts_model.dtype)
    ts_model(state)  # warm-up
    start = time.perf_counter()
    for _ in range(PROBE_EVALUATIONS):
        ts_model(state)
    if ts_model.device.type == "cuda":
        torch.cuda.synchronize(ts_model.device)
    return PROBE_EVALUATIONS * state.n_atoms / (time.perf_counter() - start)

"""Run a set of trajectories with the engine `choice.choose_engine` picks.

`run_systems` is what a caller (the md_trajectories asset, a benchmark) uses: it chooses,
logs the choice and its reason, and runs the batch with torch-sim (`torchsim_runner.run_batch`)
or the systems one after another with the ASE runner (`ase_runner.run_nvt`). Either way each
system gets its own `Outcome`: its `MDResult` (with `engine` set) or the exception that stopped
it alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ionic_assets.science import forcefields
from ionic_assets.science.errors import InputError, StorageError
from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.choice import EngineChoice, choose_engine
from ionic_assets.science.md.engine import AUTO, Engine
from ionic_assets.science.md.recorder import MDProgress
from ionic_assets.science.md.result import Outcome
from ionic_assets.science.md.systems import System
from ionic_assets.science.md.torchsim_runner import BatchProgress, run_batch
from ionic_assets.science.protocols import Protocol


def run_systems(
    systems: list[System],
    model: LoadedModel,
    protocol: Protocol,
    *,
    engine: str = AUTO,
    log: Callable[[str], None] = print,
    max_memory_scaler: float | None = None,
) -> tuple[EngineChoice, list[Outcome]]:
    """The engine chosen and one outcome per system (in order); `engine`: the request, an
    `Engine` value or AUTO."""
    choice = choose_engine(model, systems, engine)
    log(f"MD engine: {choice.engine.value} ({choice.reason})")
    if choice.engine is Engine.TORCH_SIM:
        outcomes = run_batch(
            systems,
            model,
            protocol,
            on_progress=lambda p: log(_batch_line(p)),
            max_memory_scaler=max_memory_scaler,
        )
    else:
        outcomes = [run_one(system, model, protocol, log) for system in systems]
    return choice, outcomes


def run_one(system: System, model: LoadedModel, protocol: Protocol, log) -> Outcome:
    """One system with the ASE runner, its progress lines labelled; a user's error is returned."""
    try:
        forcefields.check_elements(model, system.atoms)
        return run_nvt(
            system.atoms,
            model,
            protocol,
            system.temperature_K,
            system.seed,
            system.trajectory_path,
            on_progress=lambda p: log(f"{system.label}: {progress_line(p)}"),
            provenance=system.provenance,
            on_checkpoint=system.on_checkpoint,
        )
    except (InputError, StorageError) as exc:
        return exc


def progress_line(p: MDProgress) -> str:
    eta = time.strftime("%H:%M:%S", time.gmtime(min(p.eta_s, 359999)))
    return (
        f"step {p.step}/{p.n_steps}  {p.time_ps:.2f} ps  T = {p.temperature_K:.0f} K  "
        f"{p.steps_per_s:.1f} steps/s  ETA {eta}"
    )


def _batch_line(p: BatchProgress) -> str:
    running = ", ".join(
        f"{label} {t:.0f} K" for label, t in zip(p.running, p.temperatures_K, strict=True)
    )
    return (
        f"step {p.step}/{p.n_steps}  {p.time_ps:.2f} ps  {len(p.running)} running "
        f"({running})  {p.atom_steps_per_s:.0f} atom-steps/s"
    )

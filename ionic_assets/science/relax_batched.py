"""Relax many cells together with torch-sim's FIRE (`science.relax` chooses when).

All cells move in lock step in one torch-sim state (`ts.fire_init` / `ts.fire_step`, ASE's FIRE
flavour, `CellFilter.frechet` for mode "cell"). A cell is judged after every step by the same
rule as one relaxed with ASE: converged once every atomic force and every cell-force component is
below `fmax_eV_A`, diverged by `relax.guard`. A converged or diverged cell's result is taken at
that step; it stays in the state (its forces are below fmax, so it barely moves) and is not
looked at again, so the others go on unchanged. Wall time is shared in proportion to atoms;
each cell records the batch's size.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from ase import Atoms

from ionic_assets.science.forcefields import LoadedModel, torchsim_model
from ionic_assets.science.md.engine import Engine
from ionic_assets.science.protocols import Relax
from ionic_assets.science.relax import (
    Relaxation,
    RelaxationDiverged,
    change,
    guard,
    settings_of,
)


def relax_batch(
    cells: list[Atoms],
    labels: list[str],
    model: LoadedModel,
    relax: Relax,
    min_distance_A: float,
    ts_model=None,
) -> list[Relaxation | Exception]:
    """One Relaxation or RelaxationDiverged per cell, in order; `ts_model`: the torch-sim model
    computing `model`'s forces (default: its package's wrapper)."""
    import torch_sim as ts

    ts_model = ts_model or torchsim_model(model)
    start = time.perf_counter()
    state = ts.io.atoms_to_state(cells, device=ts_model.device, dtype=ts_model.dtype)
    cell_filter = ts.CellFilter.frechet if relax.mode == "cell" else None
    state = ts.fire_init(state, ts_model, cell_filter=cell_filter)
    energy_initial = state.energy.detach().cpu().double().numpy().copy()
    outcomes: list = [None] * len(cells)
    for step in range(relax.max_steps + 1):
        judged = _Judged(state)
        for i in (i for i, o in enumerate(outcomes) if o is None):
            outcomes[i] = _judge(i, step, judged, cells, labels, model, relax,
                                 energy_initial, min_distance_A)  # fmt: skip
        if step == relax.max_steps or all(o is not None for o in outcomes):
            break
        state = ts.fire_step(state, ts_model)
    wall_s = time.perf_counter() - start
    total = sum(len(a) for a in cells)
    for i, (cell, outcome) in enumerate(zip(cells, outcomes, strict=True)):
        if outcome is None:  # max_steps reached
            outcome = _result(i, relax.max_steps, judged, cells, relax, energy_initial, False)
        if isinstance(outcome, Relaxation):
            outcome = replace(outcome, wall_time_s=wall_s * len(cell) / total,
                              batch_size=len(cells))  # fmt: skip
        outcomes[i] = outcome
    return outcomes


class _Judged:
    """The state's per-cell arrays on the host, copied once per step."""

    def __init__(self, state):
        counts = state.n_atoms_per_system.cpu().numpy()
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.positions = state.positions.detach().cpu().double().numpy()
        self.forces = state.forces.detach().cpu().double().numpy()
        self.cells = state.row_vector_cell.detach().cpu().double().numpy()
        self.energy = state.energy.detach().cpu().double().numpy()
        cell_forces = getattr(state, "cell_forces", None)
        self.cell_forces = None if cell_forces is None else cell_forces.detach().cpu().numpy()

    def atoms(self, i: int, like: Atoms) -> Atoms:
        atoms = like.copy()
        atoms.calc = None
        atoms.set_cell(self.cells[i], scale_atoms=False)
        atoms.positions = self.positions[self.offsets[i] : self.offsets[i + 1]]
        return atoms

    def forces_of(self, i: int) -> np.ndarray:
        return self.forces[self.offsets[i] : self.offsets[i + 1]]

    def max_force(self, i: int) -> float:
        atomic = np.linalg.norm(self.forces_of(i), axis=1).max()
        if self.cell_forces is None:
            return float(atomic)
        return float(max(atomic, np.linalg.norm(self.cell_forces[i], axis=1).max()))


def _judge(i, step, judged, cells, labels, model, relax, energy_initial, min_distance_A):
    """The cell's outcome at `step`, or None while it is still relaxing."""
    atoms = judged.atoms(i, cells[i])
    try:
        guard(labels[i], model, atoms, judged.energy[i], judged.forces_of(i), energy_initial[i],
              min_distance_A)  # fmt: skip
    except RelaxationDiverged as exc:
        return exc
    if judged.max_force(i) < relax.fmax_eV_A:
        return _result(i, step, judged, cells, relax, energy_initial, True)
    return None


def _result(i, step, judged, cells, relax, energy_initial, converged) -> Relaxation:
    final = judged.atoms(i, cells[i])
    return Relaxation(
        atoms=final,
        mode=relax.mode,
        converged=converged,
        n_steps=step,
        energy_initial_eV=float(energy_initial[i]),
        energy_final_eV=float(judged.energy[i]),
        max_force_eV_A=float(np.linalg.norm(judged.forces_of(i), axis=1).max()),
        change=change(cells[i], final),
        engine=Engine.TORCH_SIM.value,
        settings=settings_of(relax, Engine.TORCH_SIM),
    )

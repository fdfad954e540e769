"""Relax a simulation cell before MD with the method's own force model (issue 23).

FIRE on the positions (mode "positions"), or on positions and cell through the Frechet cell
filter (mode "cell"), until every force is below the protocol's `fmax_eV_A` or `max_steps` is
reached (`protocols.Relax`). `relax_cells` relaxes many cells with the engine the MD's own rule
chooses (`md.choice.choose_batching`): torch-sim's batched FIRE (`ts.fire_init` / `ts.fire_step`
with `CellFilter.frechet`) for a model with a torch-sim wrapper when that pays, else ASE's
`FIRE` (with `ase.filters.FrechetCellFilter`) one cell after another.

Each cell gets a `Relaxation`: converged or not, steps, energy drop per atom, how far atoms moved
and how the cell changed (`change`). Displacements are measured in the relaxed cell from where
each atom would be had it followed the cell's homogeneous deformation (same fractional
coordinates, minimum image), so a strained cell does not count as moved atoms.

A relaxation that diverges (non-finite energy or forces, energy rising more than
`MAX_ENERGY_RISE_EV_PER_ATOM` above its start, two atoms closer than the protocol guard's
`min_interatomic_distance_A`) stops with `RelaxationDiverged`, one line naming the cell and the
model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.neighborlist import neighbor_list
from ase.optimize import FIRE

from ionic_assets.science import forcefields
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.md.choice import EngineChoice, choose_batching
from ionic_assets.science.md.engine import AUTO, Engine
from ionic_assets.science.protocols import Relax

#: The optimizer and cell filter of each engine, as recorded with every relaxation.
OPTIMIZERS = {
    Engine.ASE: ("ase.optimize.FIRE", "ase.filters.FrechetCellFilter"),
    Engine.TORCH_SIM: ("torch_sim.fire_step (ase_fire)", "torch_sim CellFilter.frechet"),
}
#: An energy this far above the starting one (eV/atom) means the relaxation ran away: FIRE
#: goes downhill but for its small overshoots (meV/atom).
MAX_ENERGY_RISE_EV_PER_ATOM = 1.0


class RelaxationDiverged(InputError):
    """The relaxation ran away: its cell is not stored and its MD does not start."""


@dataclass(frozen=True)
class Relaxation:
    """One relaxed cell and what the relaxation did (`to_dict` is what gets recorded).

    Attributes:
        atoms: the relaxed cell (the input itself for mode "none").
        mode, converged, n_steps: the protocol's mode, whether FIRE met fmax, its steps.
        energy_initial_eV, energy_final_eV: model energies of the cell before and after (None
            for mode "none": no model is evaluated).
        max_force_eV_A: the largest remaining atomic force.
        change: `change(initial, final)`.
        engine, settings: what ran it (optimizer, filter, fmax, max_steps, mode).
        wall_time_s: this cell's share of the wall time.
        batch_size: how many cells were relaxed together with it (torch-sim's batch; 1 with
            ASE, one after another).
    """

    atoms: Atoms
    mode: str
    converged: bool
    n_steps: int
    energy_initial_eV: float | None
    energy_final_eV: float | None
    max_force_eV_A: float | None
    change: dict
    engine: str
    settings: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    batch_size: int = 1

    @property
    def energy_drop_eV_per_atom(self) -> float | None:
        if self.energy_initial_eV is None or self.energy_final_eV is None:
            return None
        return (self.energy_initial_eV - self.energy_final_eV) / len(self.atoms)

    def to_dict(self) -> dict:
        """Everything but the atoms, as plain data."""
        return {
            "mode": self.mode,
            "converged": self.converged,
            "n_steps": self.n_steps,
            "energy_initial_eV": self.energy_initial_eV,
            "energy_final_eV": self.energy_final_eV,
            "energy_drop_eV_per_atom": self.energy_drop_eV_per_atom,
            "max_force_eV_A": self.max_force_eV_A,
            **self.change,
            "engine": self.engine,
            "settings": self.settings,
            "wall_time_s": self.wall_time_s,
            "batch_size": self.batch_size,
        }


def change(initial: Atoms, final: Atoms) -> dict:
    """How far `final` is from `initial` (same atoms in the same order).

    max_displacement_A, max_li_displacement_A: the largest displacement of any atom and of a Li
    atom, Å, in the final cell from the affinely deformed start (see the module docstring);
    volume_change_frac: V/V0 - 1; lattice_change: a, b, c as fractions (x/x0 - 1), alpha, beta,
    gamma in degrees (x - x0); lattice_initial, lattice_final: (a, b, c, alpha, beta, gamma).
    """
    delta = final.get_scaled_positions(wrap=False) - initial.get_scaled_positions(wrap=False)
    delta -= np.round(delta)
    moved = np.linalg.norm(delta @ final.cell.array, axis=1)
    li = np.array(initial.get_chemical_symbols()) == "Li"
    before, after = initial.cell.cellpar(), final.cell.cellpar()
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    lattice = {f"{n}_frac": after[i] / before[i] - 1 for i, n in enumerate(names[:3])}
    lattice |= {f"{n}_deg": after[i] - before[i] for i, n in enumerate(names[3:], start=3)}
    return {
        "max_displacement_A": float(moved.max(initial=0.0)),
        "max_li_displacement_A": float(moved[li].max(initial=0.0)),
        "volume_change_frac": float(final.get_volume() / initial.get_volume() - 1),
        "lattice_change": {k: float(v) for k, v in lattice.items()},
        "lattice_initial": [float(x) for x in before],
        "lattice_final": [float(x) for x in after],
    }


def unrelaxed(atoms: Atoms) -> Relaxation:
    """Mode "none": the cell passes through as it is, recorded as such."""
    return Relaxation(
        atoms.copy(), "none", True, 0, None, None, None, change(atoms, atoms), "none",
        settings={"mode": "none"},
    )  # fmt: skip


def relax_cells(
    cells: list[Atoms],
    labels: list[str],
    model: LoadedModel,
    relax: Relax,
    min_distance_A: float,
    *,
    engine: str = AUTO,
) -> tuple[EngineChoice | None, list[Relaxation | Exception]]:
    """Relax `cells` (named by `labels` in errors) with `model` as `relax` says: the engine
    chosen (None for mode "none" or when no cell is left to relax) and, per cell, its
    Relaxation or the error that stopped it alone (RelaxationDiverged, InputError for elements
    the model does not cover)."""
    if not relax.relaxes:
        return None, [unrelaxed(atoms) for atoms in cells]
    outcomes: list = [None] * len(cells)
    for i, atoms in enumerate(cells):
        try:
            forcefields.check_elements(model, atoms)
        except InputError as exc:
            outcomes[i] = exc
    todo = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if not todo:
        return None, outcomes
    choice = choose_batching(model, [cells[i] for i in todo], engine)
    if choice.engine is Engine.TORCH_SIM:
        from ionic_assets.science.relax_batched import relax_batch

        done = relax_batch([cells[i] for i in todo], [labels[i] for i in todo], model, relax,
                           min_distance_A)  # fmt: skip
    else:
        done = [_relax_one(cells[i], labels[i], model, relax, min_distance_A) for i in todo]
    for i, outcome in zip(todo, done, strict=True):
        outcomes[i] = outcome
    return choice, outcomes


def _relax_one(atoms, label, model, relax, min_distance_A) -> Relaxation | Exception:
    try:
        return relax_ase(atoms, label, model, relax, min_distance_A)
    except RelaxationDiverged as exc:
        return exc


def relax_ase(
    atoms: Atoms, label: str, model: LoadedModel, relax: Relax, min_distance_A: float
) -> Relaxation:
    """One cell with ASE's FIRE (and FrechetCellFilter for mode "cell")."""
    start = time.perf_counter()
    work = atoms.copy()
    work.calc = model.calculator
    target = FrechetCellFilter(work) if relax.mode == "cell" else work
    optimizer = FIRE(target, logfile=None)
    energy_initial = float(work.get_potential_energy())
    converged = False
    for converged in optimizer.irun(fmax=relax.fmax_eV_A, steps=relax.max_steps):  # noqa: B007
        guard(label, model, work, work.get_potential_energy(), work.get_forces(),
              energy_initial, min_distance_A)  # fmt: skip
    final = work.copy()
    final.calc = None
    return Relaxation(
        atoms=final,
        mode=relax.mode,
        converged=bool(converged),
        n_steps=int(optimizer.nsteps),
        energy_initial_eV=energy_initial,
        energy_final_eV=float(work.get_potential_energy()),
        max_force_eV_A=float(np.linalg.norm(work.get_forces(), axis=1).max()),
        change=change(atoms, final),
        engine=Engine.ASE.value,
        settings=settings_of(relax, Engine.ASE),
        wall_time_s=time.perf_counter() - start,
    )


def settings_of(relax: Relax, engine: Engine) -> dict:
    """What is recorded of how a cell was relaxed."""
    optimizer, cell_filter = OPTIMIZERS[engine]
    return {
        "mode": relax.mode,
        "fmax_eV_A": relax.fmax_eV_A,
        "max_steps": relax.max_steps,
        "optimizer": optimizer,
        "cell_filter": cell_filter if relax.mode == "cell" else None,
    }


def guard(label, model, atoms, energy_eV, forces, energy_initial_eV, min_distance_A) -> None:
    """RelaxationDiverged when the relaxation of `atoms` (at `energy_eV`, `forces`) ran away."""
    where = f"material {label}, model {model_name(model)}: relaxation diverged"
    if not (np.isfinite(energy_eV) and np.isfinite(forces).all()):
        raise RelaxationDiverged(f"{where} (non-finite energy or forces)")
    rise = (energy_eV - energy_initial_eV) / len(atoms)
    if rise > MAX_ENERGY_RISE_EV_PER_ATOM:
        raise RelaxationDiverged(
            f"{where} (energy rose {rise:.2f} eV/atom, limit {MAX_ENERGY_RISE_EV_PER_ATOM:g})"
        )
    i, j, d = neighbor_list("ijd", atoms, min_distance_A)
    if len(d):
        k = int(np.argmin(d))
        raise RelaxationDiverged(
            f"{where} (atoms {i[k]} and {j[k]} are {d[k]:.2f} Å apart, limit {min_distance_A:g} Å)"
        )


def model_name(model: LoadedModel) -> str:
    """How errors name a force model: family and name from its identity."""
    identity = model.identity
    return " ".join(str(identity[k]) for k in ("family", "name") if identity.get(k)) or "model"

"""Simulation cells: the one function that builds a material's MD cell, and cell geometry.

`simulation_cell(unit_cell, material_id, min_width_A, ordering)` is the only place a
simulation cell is made (the `supercells` asset stores it, MD and pod sizing read it). For an
ordered unit cell it is the smallest diagonal supercell whose perpendicular widths are all
>= `min_width_A`. For a partially occupied one (`science.ordering`) it is the smallest diagonal
supercell, widths >= `min_width_A`, in which every partial site's count is an integer within the
tolerance, within the size budget; else the budget's cell with the nearest counts, made neutral on
Li. A non-diagonal cell is never needed for integer counts: they depend only on the number of
unit cells, and a diagonal cell of any number exists; among diagonal cells of one size the most
isotropic is taken.

Lengths in Angstrom, volumes in Angstrom^3, charges in elementary charges, energies in eV.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import STRATEGIES, OrderingSettings, counts
from ionic_assets.science.ordering.oxidation import net_charge, oxidation_states
from ionic_assets.science.ordering.problem import Problem
from ionic_assets.science.ordering.sites import (
    GROUP_PROPERTY,
    Disorder,
    OccupancyFix,
    find_disorder,
)
from ionic_assets.science.ordering.strategy import Ordered, OrderingRequest

#: How far past the size budget a refusal looks for the cell that would fit (x max_atoms).
BEYOND_BUDGET = 10


def is_ordered(structure: Structure, tolerance: float = 0.05) -> bool:
    """True when every site holds one species at an occupancy within `tolerance` of 1."""
    return all(
        len(site.species) == 1 and abs(site.species.num_atoms - 1) <= tolerance
        for site in structure
    )


def perpendicular_widths_A(cell_A: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell, Angstrom (the periodic-image spacing)."""
    cell_A = np.asarray(cell_A, dtype=float)
    volume = abs(np.linalg.det(cell_A))
    cross = [np.cross(cell_A[(i + 1) % 3], cell_A[(i + 2) % 3]) for i in range(3)]
    return np.array([volume / np.linalg.norm(c) for c in cross])


def replication_for_width(cell_A: np.ndarray, min_width_A: float) -> tuple[int, int, int]:
    """Smallest diagonal replication whose perpendicular widths are all >= `min_width_A`."""
    widths = perpendicular_widths_A(cell_A)
    return tuple(max(1, math.ceil(min_width_A / w - 1e-9)) for w in widths)


def replications(
    cell_A: np.ndarray, min_width_A: float, max_cells: int
) -> Iterator[tuple[int, int, int]]:
    """Diagonal replications with widths >= `min_width_A`, by number of cells (the smallest
    first, then every size up to `max_cells`), the most isotropic of each size."""
    smallest = replication_for_width(cell_A, min_width_A)
    widths = perpendicular_widths_A(cell_A)
    yield smallest
    for size in range(math.prod(smallest) + 1, max_cells + 1):
        shapes = [
            (a, b, size // (a * b))
            for a in range(smallest[0], size + 1)
            if size % a == 0
            for b in range(smallest[1], size // a + 1)
            if (size // a) % b == 0 and size // (a * b) >= smallest[2]
        ]
        if shapes:
            yield max(shapes, key=lambda s: min(np.array(s) * widths))


@dataclass(frozen=True)
class Supercell:
    """A simulation cell, with what the benchmark records about how it was made.

    `ordering`: strategy and settings, cell multiplier, oxidation states, target (CIF) and
    achieved composition (atoms per cell), their difference, net charge, the groups' counts and
    the energies of the chosen ordering and of the others tried (empty-ish for ordered CIFs).
    """

    structure: Structure
    replication: tuple[int, int, int]
    widths_A: tuple[float, float, float]
    ordering: dict = field(default_factory=dict)
    fixes: tuple[OccupancyFix, ...] = ()

    @property
    def n_atoms(self) -> int:
        return len(self.structure)

    @property
    def n_li(self) -> int:
        return int(self.structure.composition["Li"])

    @property
    def volume_A3(self) -> float:
        return float(self.structure.volume)


def _composition(structure: Structure) -> dict[str, float]:
    return {el.symbol: float(n) for el, n in structure.composition.element_composition.items()}


def _record(unit_cell: Structure, cell: Structure, multiplier: int, states, extra) -> dict:
    """Target (CIF) and achieved composition per cell, their difference and the net charge."""
    target = {el: n * multiplier for el, n in _composition(unit_cell).items()}
    achieved = _composition(cell)
    return {
        **extra,
        "multiplier": multiplier,
        "oxidation_states": states,
        "target_composition": target,
        "achieved_composition": achieved,
        "composition_deviation": {
            el: achieved.get(el, 0.0) - target.get(el, 0.0) for el in sorted({*target, *achieved})
        },
        "charge_e": net_charge(achieved, states) if states else None,
    }


def _states_or_none(structure: Structure, material_id: str) -> dict[str, int] | None:
    try:
        return oxidation_states(structure.composition, material_id)
    except InputError:
        return None


def _diagonal(unit: Structure, replication) -> tuple[Structure, tuple[float, float, float]]:
    cell = unit.make_supercell(replication, in_place=False)
    return cell, tuple(float(w) for w in perpendicular_widths_A(cell.lattice.matrix))


def _ordered_cell(unit_cell, material_id, ordered_unit, min_width_A, fixes, label) -> Supercell:
    """The diagonal supercell of an already ordered unit cell, recorded against the CIF's."""
    replication = replication_for_width(ordered_unit.lattice.matrix, min_width_A)
    cell, widths = _diagonal(ordered_unit, replication)
    states = _states_or_none(unit_cell, material_id)
    record = _record(unit_cell, cell, math.prod(replication), states, {"strategy": label})
    return Supercell(cell, replication, widths, record, tuple(fixes))


def _beyond_budget(disorder: Disorder, min_width_A: float, settings: OrderingSettings) -> str:
    """Where the smallest cell that fits is, past the size budget (for a refusal's message)."""
    per_cell = disorder.unit_cell.composition.num_atoms
    max_cells = max(1, int(BEYOND_BUDGET * settings.max_atoms // per_cell))
    for replication in replications(disorder.unit_cell.lattice.matrix, min_width_A, max_cells):
        multiplier = math.prod(replication)
        if counts.fits(disorder, multiplier, settings.occupancy_tolerance):
            n_atoms = round(per_cell * multiplier)
            return (
                f"the smallest cell that fits is {'x'.join(map(str, replication))} "
                f"(~{n_atoms} atoms), over the budget of {settings.max_atoms} atoms"
            )
    return f"no cell fits within {BEYOND_BUDGET}x the budget of {settings.max_atoms} atoms"


def _fitting_replication(disorder: Disorder, min_width_A: float, settings: OrderingSettings):
    """The smallest replication that fits the disorder, else the one of least deviation."""
    per_cell = disorder.unit_cell.composition.num_atoms
    max_cells = max(1, int(settings.max_atoms // per_cell))
    nearest = None
    for replication in replications(disorder.unit_cell.lattice.matrix, min_width_A, max_cells):
        deviation = counts.max_deviation(disorder, math.prod(replication))
        if counts.fits(disorder, math.prod(replication), settings.occupancy_tolerance):
            return replication, deviation, True
        if nearest is None or deviation < nearest[1] - 1e-12:
            nearest = (replication, deviation)
    return (*nearest, False)


def simulation_cell(
    unit_cell: Structure,
    material_id: str,
    min_width_A: float,
    ordering: OrderingSettings | None = None,
    energy_eV: Callable[[Structure], float] | None = None,
) -> Supercell:
    """The material's simulation cell: widths >= `min_width_A`, ordered by `ordering`.

    `energy_eV` ranks `sampled` orderings instead of the Ewald energy (a force model's single
    point, eV). InputError (one line) for a structure without Li, a refused or impossible
    ordering, or oxidation states that cannot balance the composition.
    """
    settings = ordering or OrderingSettings()
    if "Li" not in {el.symbol for el in unit_cell.composition.elements}:
        raise InputError(f"material {material_id}: the structure has no Li")
    disorder = find_disorder(unit_cell, settings.near_full_tolerance)
    if disorder.is_ordered:
        ordered = disorder.unit_cell.copy()
        ordered.remove_site_property(GROUP_PROPERTY)
        return _ordered_cell(unit_cell, material_id, ordered, min_width_A, disorder.fixes, "none")
    counted = functools.cache(
        lambda: _counted(unit_cell, material_id, min_width_A, settings, disorder)
    )
    request = OrderingRequest(material_id, disorder, settings, lambda: counted().problem, energy_eV)
    ordered = STRATEGIES[settings.strategy](request)
    if ordered.problem is None:
        fixes = [*disorder.fixes, *ordered.fixes]
        return _ordered_cell(
            unit_cell, material_id, ordered.structure, min_width_A, fixes, settings.strategy
        )
    return _counted_cell(unit_cell, settings, disorder, counted(), ordered)


@dataclass(frozen=True)
class _Counted:
    """The supercell a counting strategy orders and how its integer counts were reached."""

    problem: Problem
    replication: tuple[int, int, int]
    widths_A: tuple[float, float, float]
    max_deviation: float
    fits: bool
    charge_rounded_e: float


def _counted(unit_cell, material_id, min_width_A, settings, disorder) -> _Counted:
    """The fitting (or nearest) supercell with its integer counts, neutral on Li."""
    states = oxidation_states(unit_cell.composition, material_id)
    replication, deviation, fits = _fitting_replication(disorder, min_width_A, settings)
    multiplier = math.prod(replication)
    try:
        rows, charge_rounded = counts.group_counts(disorder, multiplier, states, material_id)
    except counts.Uncompensated as exc:
        cif_charge = net_charge(_composition(unit_cell), states) * multiplier
        why = (
            f"the CIF's own occupancies carry {cif_charge:+.2f} e in this cell"
            if fits
            else _beyond_budget(disorder, min_width_A, settings)
        )
        raise InputError(f"material {material_id}: {exc}; {why}") from None
    supercell, widths = _diagonal(disorder.unit_cell, replication)
    problem = Problem(supercell, rows, states)
    return _Counted(problem, replication, widths, deviation, fits, charge_rounded)


def _counted_cell(unit_cell, settings, disorder, counted: _Counted, ordered: Ordered) -> Supercell:
    """The Supercell of a counting strategy's ordering, recorded with its counts and ranking."""
    problem = counted.problem
    extra = {
        **settings.to_dict(),
        "fits": counted.fits,
        "max_occupancy_deviation": counted.max_deviation,
        "charge_before_li_compensation_e": counted.charge_rounded_e,
        "groups": [
            {"site": r.group.label, "n_sites": r.n_sites, "targets": r.targets, "counts": r.counts}
            for r in problem.rows
        ],
        **ordered.ranking,
    }
    multiplier = math.prod(counted.replication)
    record = _record(unit_cell, ordered.structure, multiplier, problem.states, extra)
    return Supercell(
        ordered.structure, counted.replication, counted.widths_A, record, disorder.fixes
    )


def to_ase(structure: Structure) -> Atoms:
    return AseAtomsAdaptor.get_atoms(structure)

"""Crystal structures for MD: occupancy clean-up and supercells of a minimum width.

Lengths in Angstrom, volumes in Angstrom^3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from pymatgen.core import Composition, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from ionic_assets.science.errors import InputError

#: Ordering strategies for genuinely partially occupied structures (see `order_structure`).
ORDERING_STRATEGIES = ("round",)


@dataclass(frozen=True)
class OccupancyFix:
    """One site whose occupancy was changed to make the structure ordered."""

    site_index: int
    species: str
    occupancy: float
    action: str  # "rounded to 1" or "removed"


def order_structure(
    structure: Structure,
    material_id: str,
    *,
    tolerance: float = 0.05,
    strategy: str | None = None,
) -> tuple[Structure, list[OccupancyFix]]:
    """Return a fully ordered copy of `structure` and the changes made.

    A site held by one species with occupancy within `tolerance` of 1 is set to full occupancy
    (OBELiX's `joc` has S sites at 0.97-0.99). Any other partial site makes the structure
    genuinely disordered: it is refused unless `strategy` is given. The one strategy offered,
    "round", is `obelix-data`'s rounding: each site keeps the species whose occupancy rounds
    to 1 and sites where none does are removed (the composition may change; every change is
    returned).
    """
    if strategy is not None and strategy not in ORDERING_STRATEGIES:
        raise InputError(
            f"material {material_id}: unknown ordering strategy {strategy!r} "
            f"(known: {', '.join(ORDERING_STRATEGIES)})"
        )
    ordered = structure.copy()
    fixes: list[OccupancyFix] = []
    to_remove: list[int] = []
    for index, site in enumerate(structure):
        occupancies = site.species.as_dict()
        if len(occupancies) == 1 and next(iter(occupancies.values())) == 1:
            continue
        (species, occupancy), *others = sorted(occupancies.items(), key=lambda kv: -kv[1])
        if not others and abs(occupancy - 1) <= tolerance:
            fixes.append(OccupancyFix(index, species, occupancy, "rounded to 1"))
        elif strategy is None:
            raise InputError(
                f"material {material_id}: partially occupied site {index} "
                f"({site.species.formula}); pass an ordering strategy "
                f"({', '.join(ORDERING_STRATEGIES)}) to simulate it anyway"
            )
        elif round(occupancy) == 1:
            fixes.append(OccupancyFix(index, species, occupancy, "rounded to 1"))
        else:
            fixes.append(OccupancyFix(index, site.species.formula, occupancy, "removed"))
            to_remove.append(index)
            continue
        ordered.replace(index, Composition({species: 1}), properties=site.properties)
    ordered.remove_sites(to_remove)
    if "Li" not in {el.symbol for el in ordered.composition.elements}:
        raise InputError(f"material {material_id}: the structure has no Li")
    return ordered, fixes


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


@dataclass(frozen=True)
class Supercell:
    """A supercell ready for MD, with what the benchmark records about it."""

    structure: Structure
    replication: tuple[int, int, int]
    widths_A: tuple[float, float, float]

    @property
    def n_atoms(self) -> int:
        return len(self.structure)

    @property
    def n_li(self) -> int:
        return int(self.structure.composition["Li"])

    @property
    def volume_A3(self) -> float:
        return float(self.structure.volume)


def build_supercell(unit_cell: Structure, min_width_A: float) -> Supercell:
    """The smallest diagonal supercell of an ordered cell with all widths >= `min_width_A`."""
    replication = replication_for_width(unit_cell.lattice.matrix, min_width_A)
    supercell = unit_cell.make_supercell(replication, in_place=False)
    widths = perpendicular_widths_A(supercell.lattice.matrix)
    return Supercell(supercell, replication, tuple(float(w) for w in widths))


def to_ase(structure: Structure) -> Atoms:
    return AseAtomsAdaptor.get_atoms(structure)

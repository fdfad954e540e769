"""An ordering problem: a supercell whose partial sites get the integer counts of `counts.py`.

A strategy chooses, for every group, which of its sites hold which element (the others stay
empty); `Problem.realize` turns that choice into the ordered structure. Charges are the
oxidation states of `oxidation.py`; `ewald_matrix` is the pairwise Ewald energy of the
supercell's sites for unit charges (eV), so the energy of any ordering with site charges q
is q @ M @ q (pymatgen's `EwaldSummation`; a fixed-count ordering keeps the cell neutral, so the
energies of different orderings compare).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pymatgen.core import Species, Structure
from pymatgen.core.ewald import EwaldSummation

from ionic_assets.science.ordering.counts import GroupCounts
from ionic_assets.science.ordering.sites import GROUP_PROPERTY

VACANCY = ""
#: Significant figures of pymatgen's Ewald sums (its default 12 costs ~2x for nothing here).
EWALD_ACCURACY = 8


@dataclass
class Problem:
    """The disordered supercell (partial sites tagged with their group) and its counts."""

    supercell: Structure
    rows: list[GroupCounts]
    states: dict[str, int]

    @cached_property
    def group_sites(self) -> list[np.ndarray]:
        labels = np.array(self.supercell.site_properties[GROUP_PROPERTY])
        return [np.flatnonzero(labels == g) for g in range(len(self.rows))]

    def species_lists(self) -> list[list[str]]:
        """Per group, the elements to place (one entry per atom) padded with vacancies."""
        lists = []
        for row in self.rows:
            items = [el for el, n in sorted(row.counts.items()) for _ in range(n)]
            lists.append(items + [VACANCY] * row.n_vacancies)
        return lists

    def charges(self, placement: list[list[str]]) -> np.ndarray:
        """Site charges (e) of the supercell for a placement (per group, element per site)."""
        q = np.array(
            [
                self.states[site.specie.symbol] if site.properties[GROUP_PROPERTY] < 0 else 0.0
                for site in self.supercell
            ]
        )
        for sites, species in zip(self.group_sites, placement, strict=True):
            q[sites] = [self.states[el] if el else 0.0 for el in species]
        return q

    @cached_property
    def ewald_matrix(self) -> np.ndarray:
        unit_charges = Structure(
            self.supercell.lattice,
            [Species("H", 1)] * len(self.supercell),
            self.supercell.frac_coords,
        )
        return EwaldSummation(unit_charges, acc_factor=EWALD_ACCURACY).total_energy_matrix

    def energy_eV(self, charges: np.ndarray) -> float:
        return float(charges @ self.ewald_matrix @ charges)

    def realize(self, placement: list[list[str]]) -> Structure:
        """The ordered structure: each partial site gets its element or is left out."""
        elements = [
            site.specie.symbol if site.properties[GROUP_PROPERTY] < 0 else VACANCY
            for site in self.supercell
        ]
        for sites, species in zip(self.group_sites, placement, strict=True):
            for index, el in zip(sites, species, strict=True):
                elements[index] = el
        keep = [i for i, el in enumerate(elements) if el]
        return Structure(
            self.supercell.lattice,
            [elements[i] for i in keep],
            self.supercell.frac_coords[keep],
        )

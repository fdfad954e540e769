"""Ordering strategies for partially occupied structures, one module each.

    sampled  (default) seeded random orderings with the exact counts, quenched and ranked by
             Ewald energy (or a force model's single point); `sampled.py`
    ewald    pymatgen's OrderDisorderedStructureTransformation (exhaustive Ewald minimum) within
             an enumeration limit; `ewald.py`
    round    obelix-data's rounding: whole sites kept, others removed; `round.py`
    refuse   no ordering: a partially occupied structure is an error; `refuse.py`

Each module's `order(request) -> Ordered` is the one interface of `strategy.py`; STRATEGIES
maps the names to them. The supercell that fits the disorder, the integer counts and charge
compensation are in `counts.py`, oxidation states in `oxidation.py`, site groups in `sites.py`;
the one function that builds a simulation cell from (unit cell, width, ordering) is
`science.structures.simulation_cell`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import ewald, refuse, sampled
from ionic_assets.science.ordering import round as rounding
from ionic_assets.science.ordering.strategy import Strategy

#: The strategies by name, the default first.
STRATEGIES: dict[str, Strategy] = {
    "sampled": sampled.order,
    "ewald": ewald.order,
    "round": rounding.order,
    "refuse": refuse.order,
}


@dataclass(frozen=True)
class OrderingSettings:
    """How a partially occupied structure is ordered (the `supercells` asset's config).

    strategy: one of STRATEGIES. seed, n_samples: of `sampled`. occupancy_tolerance: a cell fits
    the disorder when rounding its counts changes no occupancy by more than this (fraction of a
    site; refined CIF occupancies are rarely better than 0.01). near_full_tolerance: a
    one-species site this close to 1 is set to 1. max_atoms: size budget of the search for a
    fitting cell.
    ewald_max_orderings: enumeration limit of `ewald`.
    """

    strategy: str = "sampled"
    seed: int = 0
    n_samples: int = 8
    occupancy_tolerance: float = 0.01
    near_full_tolerance: float = 0.05
    max_atoms: int = 1000
    ewald_max_orderings: float = 5e6

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise InputError(
                f"ordering strategy {self.strategy!r}: unknown (known: {', '.join(STRATEGIES)})"
            )

    def to_dict(self) -> dict:
        return asdict(self)

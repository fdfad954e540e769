"""The one interface of the ordering strategies: `order(request: OrderingRequest) -> Ordered`.

Each strategy module (`sampled`, `ewald`, `round`, `refuse`) exposes `order` with this
signature; `science.ordering.STRATEGIES` maps their names to them and
`science.structures.simulation_cell` calls the one the settings name. A strategy orders either
the unit cell (`round`; the cell is then replicated to the width) or the supercell with integer
counts that `request.problem()` builds (`sampled`, `ewald`), which it returns as `problem`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pymatgen.core import Structure

from ionic_assets.science.ordering.problem import Problem
from ionic_assets.science.ordering.sites import Disorder, OccupancyFix

if TYPE_CHECKING:  # the settings' module maps the strategies, so it imports this one
    from ionic_assets.science.ordering import OrderingSettings


@dataclass(frozen=True)
class OrderingRequest:
    """A partially occupied material to order.

    problem: the supercell with integer counts, built on the first call (only the strategies
    that order a supercell call it). energy_eV: ranks `sampled` orderings instead of the Ewald
    energy (a force model's single point, eV).
    """

    material_id: str
    disorder: Disorder
    settings: OrderingSettings
    problem: Callable[[], Problem]
    energy_eV: Callable[[Structure], float] | None = None


@dataclass(frozen=True)
class Ordered:
    """A strategy's ordered structure: the supercell of `problem`, or, when `problem` is None,
    an ordered unit cell. ranking: what the strategy records of its choice (energies in eV);
    fixes: site occupancies it changed."""

    structure: Structure
    ranking: dict = field(default_factory=dict)
    fixes: tuple[OccupancyFix, ...] = ()
    problem: Problem | None = None


class Strategy(Protocol):
    def __call__(self, request: OrderingRequest) -> Ordered: ...

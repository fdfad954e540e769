"""How many atoms of each species go on each group of partial sites of a supercell.

A supercell of `multiplier` unit cells has `multiplier x len(group.unit_sites)` sites in a group;
its target count of a species is that times the species' occupancy (a real number). The cell
*fits* the disorder when every target is an integer within the tolerance: rounding it changes
the occupancy by at most `occupancy_tolerance`. Otherwise the nearest counts are used. A
rounded cell that is not neutral is made neutral on the partial Li sites (the mobile ion, whose
count the dopants set), atom by atom where rounding moved Li most; charge that no partial Li site
can take is then removed by choosing, species by species, the floor or the ceiling of the target
instead of the nearest (the cheapest change in occupancy first); if charge is still left, the
material is refused naming the site, the counts and the cell that would fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering.oxidation import net_charge
from ionic_assets.science.ordering.sites import Disorder, SiteGroup

#: Floating-point slack of the tolerance test (0.08 / 8 sites is 0.010000000000000009).
ROUND_OFF = 1e-9


@dataclass(frozen=True)
class GroupCounts:
    """Integer atoms per element on one group of a supercell; the rest of its sites are empty."""

    group: SiteGroup
    n_sites: int
    counts: dict[str, int]
    targets: dict[str, float]

    @property
    def n_vacancies(self) -> int:
        return self.n_sites - sum(self.counts.values())


def targets(group: SiteGroup, multiplier: int) -> dict[str, float]:
    n_sites = multiplier * len(group.unit_sites)
    return {el: n_sites * x for el, x in group.occupancy.items()}


def max_deviation(disorder: Disorder, multiplier: int) -> float:
    """Largest occupancy change rounding the targets of a `multiplier`-cell supercell makes."""
    worst = 0.0
    for group in disorder.groups:
        n_sites = multiplier * len(group.unit_sites)
        wanted = targets(group, multiplier)
        for el, n in nearest_counts(wanted, n_sites).items():
            worst = max(worst, abs(n - wanted[el]) / n_sites)
    return worst


def fits(disorder: Disorder, multiplier: int, tolerance: float) -> bool:
    """Whether a `multiplier`-cell supercell has integer counts within `tolerance`."""
    return max_deviation(disorder, multiplier) <= tolerance + ROUND_OFF


def nearest_counts(wanted: dict[str, float], n_sites: int) -> dict[str, int]:
    """Integer counts nearest `wanted` whose sum is the rounded total (at most `n_sites`):
    each floored, then the largest remainders rounded up (Hamilton's method)."""
    total = min(n_sites, round(sum(wanted.values())))
    floors = {el: math.floor(x) for el, x in wanted.items()}
    by_remainder = sorted(wanted, key=lambda el: (floors[el] - wanted[el], el))
    for el in by_remainder[: max(0, total - sum(floors.values()))]:
        floors[el] += 1
    return floors


def _rounded(disorder: Disorder, multiplier: int) -> list[GroupCounts]:
    rows = []
    for group in disorder.groups:
        wanted = targets(group, multiplier)
        n_sites = multiplier * len(group.unit_sites)
        rows.append(GroupCounts(group, n_sites, nearest_counts(wanted, n_sites), wanted))
    return rows


def _moves(row: GroupCounts, states: dict[str, int]):
    """(charge change, occupancy cost, changes) of one-atom changes of a group that keep every
    count at the floor or ceiling of its target: an element replaced by another, added on a
    vacancy or removed."""

    def within(el: str, n: int) -> bool:
        return math.floor(row.targets[el]) <= n <= math.ceil(row.targets[el])

    def cost(changes: dict[str, int]) -> float:
        return (
            sum(
                abs(row.counts[el] + d - row.targets[el]) - abs(row.counts[el] - row.targets[el])
                for el, d in changes.items()
            )
            / row.n_sites
        )

    for a in [None, *sorted(row.counts)]:
        for b in [None, *sorted(row.counts)]:
            if a == b or (b is None and row.n_vacancies == 0):
                continue
            changes = {el: d for el, d in ((a, 1), (b, -1)) if el is not None}
            if all(within(el, row.counts[el] + d) for el, d in changes.items()):
                dq = sum(states[el] * d for el, d in changes.items())
                yield dq, cost(changes), changes


def _neutral_rounding(rows: list[GroupCounts], states: dict[str, int], charge: int) -> int:
    """Move counts between the floor and ceiling of their targets, the cheapest move that
    lowers |charge| first, until the cell is neutral or no move helps; the charge left."""
    while charge:
        options = [
            (cost, i, changes, dq)
            for i, row in enumerate(rows)
            for dq, cost, changes in _moves(row, states)
            if abs(charge + dq) < abs(charge)
        ]
        if not options:
            return charge
        _, i, changes, dq = min(options, key=lambda o: (o[0], o[1], sorted(o[2].items())))
        for el, d in changes.items():
            rows[i].counts[el] += d
        charge += dq
    return 0


def _compensate_li(rows: list[GroupCounts], charge: int) -> int:
    """Remove (charge > 0) or add Li atoms on the partial Li groups until the cell is neutral,
    each time where the count is furthest from its target in the right direction; the charge
    no partial Li site could take."""
    step = -1 if charge > 0 else 1
    for taken in range(abs(charge)):
        usable = [
            r
            for r in rows
            if "Li" in r.counts and (r.counts["Li"] > 0 if step < 0 else r.n_vacancies > 0)
        ]
        if not usable:
            return charge + step * taken
        row = max(usable, key=lambda r: -step * (r.counts["Li"] - r.targets["Li"]))
        row.counts["Li"] += step
    return 0


class Uncompensated(ValueError):
    """Rounded counts leave a charge that cannot be compensated (the message says where)."""


def group_counts(
    disorder: Disorder, multiplier: int, states: dict[str, int], material_id: str
) -> tuple[list[GroupCounts], float]:
    """The integer counts of every group in a `multiplier`-cell supercell, the cell neutral,
    and the net charge (e) of the rounded counts before Li compensated it.

    Uncompensated when rounding leaves a charge that neither Li nor the other roundings can
    take; InputError when a group would hold more atoms than sites.
    """
    rows = _rounded(disorder, multiplier)
    fixed = {el: n * multiplier for el, n in disorder.fixed_counts().items()}
    charge = net_charge(fixed, states) + sum(net_charge(r.counts, states) for r in rows)
    left = _neutral_rounding(rows, states, _compensate_li(rows, int(round(charge))))
    if left:
        worst = max(rows, key=lambda r: max(abs(n - r.targets[el]) for el, n in r.counts.items()))
        raise Uncompensated(
            f"{worst.group.label} needs {_format(worst.targets)} atoms in a {multiplier}-cell "
            f"supercell; the nearest counts leave a charge of {charge:+.0f} e that neither the "
            "partial Li sites nor the other roundings of the counts compensate"
        )
    for row in rows:
        if row.n_vacancies < 0:
            raise InputError(
                f"material {material_id}: {row.group.label} would hold {_format(row.counts)} "
                f"atoms on {row.n_sites} sites"
            )
    return rows, charge


def _format(counts: dict[str, float]) -> str:
    return ", ".join(f"{el} {n:g}" for el, n in sorted(counts.items()))


def n_atoms(disorder: Disorder, rows: list[GroupCounts], multiplier: int) -> int:
    fixed = sum(disorder.fixed_counts().values()) * multiplier
    return fixed + sum(sum(r.counts.values()) for r in rows)


def expected_atoms(disorder: Disorder, multiplier: int) -> float:
    """Atoms of a `multiplier`-cell supercell before rounding (what the size budget is about)."""
    return multiplier * disorder.unit_cell.composition.num_atoms

"""The disorder of a unit cell: sites that hold a fraction of an atom, grouped by occupancy.

A site held by one species at an occupancy within `near_full_tolerance` of 1 is set to 1 and the
change recorded (refinement round-off: OBELiX's `joc` has S sites at 0.97-0.99). Every other
site whose occupancies do not sum to one whole atom of one species is partial; partial sites
with the same occupancies (element -> fraction) form one group, as pymatgen's
`OrderDisorderedStructureTransformation` groups them: its atoms are distributed over its sites.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymatgen.core import Composition, Structure

#: Site property naming the group of each partial site (-1 for an ordered site).
GROUP_PROPERTY = "disorder_group"


@dataclass(frozen=True)
class OccupancyFix:
    """One site whose occupancy was changed to make the structure ordered."""

    site_index: int
    species: str
    occupancy: float
    action: str  # "rounded to 1" or "removed"


@dataclass(frozen=True)
class SiteGroup:
    """Partial sites of the unit cell sharing one occupancy (element -> fraction of a site)."""

    occupancy: dict[str, float]
    unit_sites: tuple[int, ...]

    @property
    def label(self) -> str:
        """e.g. 'site 24 (Li0.293, 96 sites)': the first site's index, as in the CIF's order."""
        fractions = "".join(f"{el}{x:g}" for el, x in sorted(self.occupancy.items()))
        return f"site {self.unit_sites[0]} ({fractions}, {len(self.unit_sites)} sites)"


@dataclass(frozen=True)
class Disorder:
    """A unit cell with its partial sites tagged (`GROUP_PROPERTY`) and grouped."""

    unit_cell: Structure
    groups: tuple[SiteGroup, ...]
    fixes: tuple[OccupancyFix, ...]

    @property
    def is_ordered(self) -> bool:
        return not self.groups

    def fixed_counts(self) -> dict[str, int]:
        """Element -> atoms on the ordered sites of one unit cell."""
        counts: dict[str, int] = {}
        for site in self.unit_cell:
            if site.properties[GROUP_PROPERTY] < 0:
                symbol = site.specie.symbol
                counts[symbol] = counts.get(symbol, 0) + 1
        return counts


def _occupancy(site) -> dict[str, float]:
    return {el.symbol: float(x) for el, x in site.species.element_composition.items()}


def find_disorder(structure: Structure, near_full_tolerance: float = 0.05) -> Disorder:
    """Group the partial sites of `structure` (a copy is tagged; the input is unchanged)."""
    unit = structure.copy()
    fixes: list[OccupancyFix] = []
    keys: dict[tuple, int] = {}
    members: list[list[int]] = []
    labels = []
    for index, site in enumerate(structure):
        occupancy = _occupancy(site)
        (species, fraction), *others = sorted(occupancy.items(), key=lambda kv: -kv[1])
        if not others and abs(fraction - 1) <= near_full_tolerance:
            if fraction != 1:
                fixes.append(OccupancyFix(index, species, fraction, "rounded to 1"))
            unit.replace(index, Composition({species: 1}), properties=site.properties)
            labels.append(-1)
            continue
        key = tuple(sorted((el, round(x, 4)) for el, x in occupancy.items()))
        if key not in keys:
            keys[key] = len(members)
            members.append([])
        members[keys[key]].append(index)
        labels.append(keys[key])
    unit.add_site_property(GROUP_PROPERTY, labels)
    groups = tuple(SiteGroup(_occupancy(structure[sites[0]]), tuple(sites)) for sites in members)
    return Disorder(unit, groups, tuple(fixes))

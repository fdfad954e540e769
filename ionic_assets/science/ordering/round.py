"""`round`: `obelix-data`'s rounding, each partial site made whole or removed.

Each partial site keeps the element whose occupancy rounds to 1; a site where none does is
removed. The composition (and usually the charge) changes; every change is returned. Kept for
comparison with the paper-era platform; `sampled` keeps the composition.
"""

from __future__ import annotations

from pymatgen.core import Composition

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering.sites import GROUP_PROPERTY, OccupancyFix
from ionic_assets.science.ordering.strategy import Ordered, OrderingRequest


def order(request: OrderingRequest) -> Ordered:
    """The rounded unit cell and the changes made (on top of `disorder.fixes`); InputError
    when rounding removes every Li."""
    disorder = request.disorder
    ordered = disorder.unit_cell.copy()
    fixes, to_remove = [], []
    for index, site in enumerate(disorder.unit_cell):
        if site.properties[GROUP_PROPERTY] < 0:
            continue
        occupancy = disorder.groups[site.properties[GROUP_PROPERTY]].occupancy
        species, fraction = max(occupancy.items(), key=lambda kv: kv[1])
        if round(fraction) == 1:
            fixes.append(OccupancyFix(index, species, fraction, "rounded to 1"))
            ordered.replace(index, Composition({species: 1}), properties=site.properties)
        else:
            fixes.append(OccupancyFix(index, site.species.formula, fraction, "removed"))
            to_remove.append(index)
    ordered.remove_sites(to_remove)
    ordered.remove_site_property(GROUP_PROPERTY)
    if "Li" not in {el.symbol for el in ordered.composition.elements}:
        raise InputError(f"material {request.material_id}: rounding removes every Li")
    return Ordered(ordered, fixes=tuple(fixes))

"""`refuse`: no ordering; a partially occupied structure is an input error naming its first site."""

from __future__ import annotations

from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering.strategy import Ordered, OrderingRequest


def order(request: OrderingRequest) -> Ordered:
    """Never returns: InputError naming the first partial site group."""
    group = request.disorder.groups[0]
    raise InputError(
        f"material {request.material_id}: partially occupied {group.label}; choose an ordering "
        "strategy (sampled, ewald, round) to simulate it"
    )

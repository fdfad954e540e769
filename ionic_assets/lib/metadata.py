"""Materialization metadata from warehouse rows (Dagster serializes plain Python scalars only)."""

import numpy as np


def scalars(row: dict, keys) -> dict:
    """The entries of `row` named in `keys` that are set, as plain Python scalars."""
    picked = {}
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        picked[key] = value.item() if isinstance(value, np.generic) else value
    return picked


#: Tag of an asset materialized only when asked for (costly), which `ionic-assets run` leaves out.
ON_DEMAND_TAG = "ionic-assets/on-demand"

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

#: Metadata of a step failure over several partitions: {partition: its one-line cause}.
FAILED_PARTITIONS = "failed_partitions"
#: Dagster's run tags naming the first and last partition of a run over a range (a backfill's
#: multi-partition run); Dagster 1.13 has no public constant for them.
RANGE_START_TAG, RANGE_END_TAG = (
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)

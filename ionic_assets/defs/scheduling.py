"""How chosen partitions group into runs: one decision, for Dagster's backfills and the CLI.

`backfill_policy` is the policy of a method's relaxed_cells and md_trajectories: a batchable
force model's take many partitions per run (one batch, one GPU pod); every other asset one
partition per run (Dagster's default, each its own pod, in parallel). A backfill launched from
the UI groups its partitions by that policy with Dagster's own function; `run_partitions` calls
the same function for the partitions the CLI chose, so `ionic-assets run` makes the runs a
backfill would make.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import (
    _build_run_requests_with_backfill_policy,  # asset backfills' grouping of one asset group
)

from ionic_assets.lib import settings
from ionic_assets.lib.metadata import RANGE_END_TAG, RANGE_START_TAG
from ionic_assets.lib.methods import Method


def backfill_policy(method: Method) -> dg.BackfillPolicy | None:
    """Many partitions per run for a batchable force model's relaxation and MD (at most
    IONIC_ASSETS_MD_PARTITIONS_PER_RUN); None, one per run, for DFT, CHGNet and imports."""
    if not method.batchable:
        return None
    return dg.BackfillPolicy.multi_run(
        max_partitions_per_run=settings.MD_PARTITIONS_PER_RUN.value()
    )


def partitions_per_run(
    partitions_def: dg.PartitionsDefinition | None, policy: dg.BackfillPolicy | None
) -> int | None:
    """The most partitions one run of an asset takes: 1 (Dagster's default without a policy,
    and any unpartitioned asset), the policy's maximum, or None (all: a single-run policy)."""
    return 1 if policy is None or partitions_def is None else policy.max_partitions_per_run


def run_partitions(
    partitions_def: dg.PartitionsDefinition,
    policy: dg.BackfillPolicy,
    partitions: list[str],
    instance: dg.DagsterInstance,
) -> list[list[str]]:
    """The partition keys of each run that a backfill of `partitions` under `policy` makes, in
    the definition's order.

    A run names a range by its two ends and takes every key between them, so the chosen keys
    become ranges of consecutive chosen keys, one dimension held (the one with fewer chosen
    values), each cut at the policy's maximum."""
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        requests = _build_run_requests_with_backfill_policy(
            asset_keys=[],
            asset_check_keys=[],
            backfill_policy=policy,
            partition_keys=frozenset(map(str, partitions)),
            partitions_def=partitions_def,
            tags={},
            dynamic_partitions_store=instance,
        )
        order = {key: i for i, key in enumerate(partitions_def.get_partition_keys())}
        runs = [
            partitions_def.get_partition_keys_in_range(
                dg.PartitionKeyRange(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG])
            )
            for r in requests
        ]
    return sorted(runs, key=lambda run: order[run[0]])

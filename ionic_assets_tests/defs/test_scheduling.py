"""How chosen partitions group into runs: Dagster's backfill grouping, for the CLI too."""

import dagster as dg

from ionic_assets.defs.materials.partitions import add_partition_keys, simulation_partitions
from ionic_assets.defs.scheduling import run_partitions

ALL = dg.BackfillPolicy.single_run()
TWO = dg.BackfillPolicy.multi_run(max_partitions_per_run=2)


def _range(keys):
    return (keys[0], keys[-1], len(keys))


def test_runs_are_dagster_ranges_of_chosen_keys_only(instance):
    add_partition_keys(instance, ["a", "b", "c"], ["800", "900", "1000"])
    every = simulation_partitions.get_partition_keys(dynamic_partitions_store=instance)
    whole = run_partitions(simulation_partitions, ALL, every, instance)
    assert [_range(r) for r in whole] == [("a|800", "a|1000", 3), ("b|800", "b|1000", 3),
                                          ("c|800", "c|1000", 3)]  # fmt: skip
    # A new temperature for every material: one run across the materials.
    new = run_partitions(simulation_partitions, ALL, ["a|1000", "b|1000", "c|1000"], instance)
    assert [_range(r) for r in new] == [("a|1000", "c|1000", 3)]
    # 900 not chosen splits a's temperatures; b is not chosen at all.
    gaps = run_partitions(simulation_partitions, ALL, ["a|800", "a|1000", "c|800"], instance)
    assert sorted(map(_range, gaps)) == [("a|1000", "a|1000", 1), ("a|800", "a|800", 1),
                                         ("c|800", "c|800", 1)]  # fmt: skip
    chunks = run_partitions(simulation_partitions, TWO, every, instance)
    assert max(len(r) for r in chunks) == 2 and sorted(k for r in chunks for k in r) == sorted(
        every
    )
    for run in whole + new + gaps + chunks:  # each is exactly what Dagster's range names
        span = dg.PartitionKeyRange(run[0], run[-1])
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            assert simulation_partitions.get_partition_keys_in_range(span) == run

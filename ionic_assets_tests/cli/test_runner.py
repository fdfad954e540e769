"""The runner's stage order comes from the asset graph: a new asset needs no runner change."""

import dagster as dg

from ionic_assets.cli.runner import feeds, load_definitions, partition_ranges, plan_stages
from ionic_assets.defs.materials.partitions import (
    add_partition_keys,
    material_partitions,
    simulation_partitions,
)
from ionic_assets.lib.metadata import ON_DEMAND_TAG


def _keys(stages):
    return [[k.to_user_string() for k in stage.keys] for stage in stages]


def test_stages_of_the_platforms_graph():
    graph = load_definitions().resolve_asset_graph()
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups("mace_mpa_0", "sevenn_0")
    selection -= dg.AssetSelection.groups("dft_vasp", "dft_cp2k")
    selection -= dg.AssetSelection.tag(ON_DEMAND_TAG, "true")
    stages = plan_stages(graph, selection.resolve(graph))
    assert _keys(stages) == [
        ["obelix_subset"],
        ["supercells"],
        ["chgnet/md_trajectories", "chgnet/diffusion_estimates"],
        ["chgnet/arrhenius_fits"],
        ["benchmark_table"],
    ]
    assert [s.partitions_def for s in stages[1:4]] == [
        material_partitions, simulation_partitions, material_partitions,
    ]  # fmt: skip


def test_a_batchable_models_md_is_a_stage_of_its_own_with_many_partitions_per_run(monkeypatch):
    monkeypatch.setenv("IONIC_ASSETS_MD_PARTITIONS_PER_RUN", "7")
    graph = load_definitions().resolve_asset_graph()
    selection = dg.AssetSelection.groups("sevenn_0", "chgnet")
    selection -= dg.AssetSelection.tag(ON_DEMAND_TAG, "true")
    stages = plan_stages(graph, selection.resolve(graph))
    per_run = [s.partitions_per_run for s in stages]
    assert list(zip(_keys(stages), per_run, strict=True)) == [
        (["chgnet/md_trajectories"], 1),
        (["sevenn_0/md_trajectories"], 7),
        (["chgnet/diffusion_estimates", "sevenn_0/diffusion_estimates"], 1),
        (["chgnet/arrhenius_fits", "sevenn_0/arrhenius_fits"], 1),
    ]


def _range(keys):
    return (keys[0], keys[-1], len(keys))


def test_partition_ranges_are_dagster_ranges_of_chosen_keys_only(instance):
    add_partition_keys(instance, ["a", "b", "c"], ["800", "900", "1000"])
    every = simulation_partitions.get_partition_keys(dynamic_partitions_store=instance)
    whole = partition_ranges(simulation_partitions, every, None, instance)
    assert [_range(r) for r in whole] == [("a|800", "a|1000", 3), ("b|800", "b|1000", 3),
                                          ("c|800", "c|1000", 3)]  # fmt: skip
    # A new temperature for every material: one run across the materials.
    new = partition_ranges(simulation_partitions, ["a|1000", "b|1000", "c|1000"], None, instance)
    assert [_range(r) for r in new] == [("a|1000", "c|1000", 3)]
    # 900 not chosen splits a's temperatures; b is not chosen at all.
    gaps = partition_ranges(simulation_partitions, ["a|800", "a|1000", "c|800"], None, instance)
    assert sorted(map(_range, gaps)) == [("a|1000", "a|1000", 1), ("a|800", "a|800", 1),
                                         ("c|800", "c|800", 1)]  # fmt: skip
    chunks = partition_ranges(simulation_partitions, every, 2, instance)
    assert max(len(r) for r in chunks) == 2 and sorted(k for r in chunks for k in r) == sorted(
        every
    )
    for run in whole + new + gaps + chunks:  # each is exactly what Dagster's range names
        span = dg.PartitionKeyRange(run[0], run[-1])
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            assert simulation_partitions.get_partition_keys_in_range(span) == run


def test_a_new_asset_takes_its_place_by_its_dependencies():
    @dg.asset(partitions_def=material_partitions, deps=["supercells"])
    def phonons():
        """A new per-material asset between supercells and the simulations."""

    @dg.asset(partitions_def=simulation_partitions, deps=[phonons])
    def md():
        """A new per-(material, temperature) asset below it."""

    @dg.asset(partitions_def=material_partitions)
    def supercells():
        """Stand-in for the platform's asset of that name."""

    graph = dg.Definitions(assets=[phonons, md, supercells]).resolve_asset_graph()
    stages = plan_stages(graph, set(graph.get_all_asset_keys()))
    assert _keys(stages) == [["supercells", "phonons"], ["md"]]


def test_a_parent_partition_feeds_the_children_that_share_its_dimensions():
    gvd_1000 = {"material": "gvd", "temperature_K": "1000"}
    assert feeds({"material": "gvd"}, gvd_1000) and feeds(gvd_1000, {"material": "gvd"})
    assert not feeds({"material": "fft"}, gvd_1000)
    assert feeds({}, gvd_1000) and feeds(gvd_1000, {})  # unpartitioned on either side

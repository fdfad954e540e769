"""The runner's stage order comes from the asset graph: a new asset needs no runner change."""

import dagster as dg

from ionic_assets.cli.runner import feeds, load_definitions, plan_stages
from ionic_assets.defs.materials.partitions import material_partitions, simulation_partitions
from ionic_assets.lib.metadata import ON_DEMAND_TAG
from ionic_assets.lib.methods import load_methods


def _keys(stages):
    return [[k.to_user_string() for k in stage.keys] for stage in stages]


def test_stages_of_the_platforms_graph():
    graph = load_definitions().resolve_asset_graph()
    others = [m.key for m in load_methods().values() if m.name != "chgnet"]
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups(*others)
    selection -= dg.AssetSelection.tag(ON_DEMAND_TAG, "true")
    stages = plan_stages(graph, selection.resolve(graph))
    assert _keys(stages) == [
        ["obelix_subset"],
        ["supercells", "chgnet/relaxed_cells"],
        ["chgnet/md_trajectories", "chgnet/diffusion_estimates"],
        ["chgnet/arrhenius_fits"],
        ["benchmark_table"],
    ]
    assert [s.partitions_def for s in stages[1:4]] == [
        material_partitions, simulation_partitions, material_partitions,
    ]  # fmt: skip


def test_a_batchable_models_relaxation_and_md_are_stages_with_many_partitions_per_run(
    monkeypatch,
):
    monkeypatch.setenv("IONIC_ASSETS_MD_PARTITIONS_PER_RUN", "7")
    graph = load_definitions().resolve_asset_graph()
    selection = dg.AssetSelection.groups("sevenn_0", "chgnet")
    selection -= dg.AssetSelection.tag(ON_DEMAND_TAG, "true")
    stages = plan_stages(graph, selection.resolve(graph))
    per_run = [s.partitions_per_run for s in stages]
    assert list(zip(_keys(stages), per_run, strict=True)) == [
        (["chgnet/relaxed_cells"], 1),
        (["sevenn_0/relaxed_cells"], 7),
        (["chgnet/md_trajectories"], 1),
        (["sevenn_0/md_trajectories"], 7),
        (["chgnet/diffusion_estimates", "sevenn_0/diffusion_estimates"], 1),
        (["chgnet/arrhenius_fits", "sevenn_0/arrhenius_fits"], 1),
    ]


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

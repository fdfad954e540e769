"""The definitions load and the asset graph has the expected shape."""

import dagster as dg

from ionic_assets.defs.materials.partitions import material_partitions, simulation_partitions
from ionic_assets.lib.runner import load_definitions


def test_definitions_load_and_validate(home):
    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    supercells = graph.get(dg.AssetKey("supercells"))
    assert supercells.partitions_def == material_partitions
    assert dg.AssetKey("obelix_subset") in supercells.parent_keys
    assert set(simulation_partitions.partition_dimension_names) == {"material", "temperature_K"}

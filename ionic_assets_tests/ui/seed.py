"""Setup for the browser tests: `python -m ionic_assets_tests.ui.seed METHOD,... MATERIAL...`.

Materializes obelix_subset (which registers the paper's materials and temperatures as partition
keys), the given materials' supercells and the flows' methods' relaxed_cells (passed through by
the smoke protocol: nothing is evaluated) in the instance at DAGSTER_HOME, so that the UI flows
start where a user would after the README's first step.
"""

import sys

import dagster as dg

from ionic_assets.cli.runner import load_definitions


def main(methods: list[str], materials: list[str]) -> None:
    defs = load_definitions()
    relaxed = [dg.AssetKey([method, "relaxed_cells"]) for method in methods]
    with dg.DagsterInstance.get() as instance:
        steps = [([dg.AssetKey("obelix_subset")], None)]
        steps += [([dg.AssetKey("supercells")], m) for m in materials]
        steps += [(relaxed, m) for m in materials]
        for selection, partition in steps:
            result = dg.materialize(
                assets=defs.assets,
                selection=selection,
                partition_key=partition,
                instance=instance,
                resources=defs.resources,
                tags={"ionic-assets/launched-by": "ui-test-setup"},
            )
            assert result.success, f"{selection} [{partition}] failed"


if __name__ == "__main__":
    main(sys.argv[1].split(","), sys.argv[2:])

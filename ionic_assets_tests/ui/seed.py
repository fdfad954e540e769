"""Setup for the browser tests: `python -m ionic_assets_tests.ui.seed MATERIAL...`.

Materializes obelix_subset (which registers the paper's materials and temperatures as partition
keys) and the given materials' supercells in the instance at DAGSTER_HOME, so that the UI flows
start where a user would after the README's first step.
"""

import sys

import dagster as dg

from ionic_assets.cli.runner import load_definitions


def main(materials: list[str]) -> None:
    defs = load_definitions()
    with dg.DagsterInstance.get() as instance:
        for selection, partition in [("obelix_subset", None)] + [
            ("supercells", m) for m in materials
        ]:
            result = dg.materialize(
                assets=defs.assets,
                selection=[dg.AssetKey(selection)],
                partition_key=partition,
                instance=instance,
                resources=defs.resources,
                tags={"ionic-assets/launched-by": "ui-test-setup"},
            )
            assert result.success, f"{selection} [{partition}] failed"


if __name__ == "__main__":
    main(sys.argv[1:])

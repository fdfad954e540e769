"""`ionic-assets run`: materialize the benchmark graph in-process, stage by stage.

Each stage is one Dagster run per partition, recorded in the given instance, in graph order:
obelix_subset, supercells[material], <method>/md_trajectories + diffusion_estimates
[material|T], <method>/arrhenius_fits[material], benchmark_table. A failed stage is reported in
one line and the others go on (an Arrhenius fit uses the temperatures that succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from ionic_assets.defs.materials.partitions import (
    add_partition_keys,
    material_partitions,
    seed_default_partitions,
    temperature_key,
    temperature_partitions,
)
from ionic_assets.defs.resources import SimulationSettings
from ionic_assets.lib import settings
from ionic_assets.lib.methods import get_methods
from ionic_assets.science import obelix


def load_definitions() -> dg.Definitions:
    from ionic_assets.definitions import defs

    return defs()


def first_failure(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure of a run, as one line: the innermost error's message."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error and error.cause:
                error = error.cause
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            return f"{event.step_key}: {message.split(': ', 1)[-1]}"
    return "run failed"


@dataclass
class BenchmarkRun:
    instance: dg.DagsterInstance
    materials: list[str] | None = None
    temperatures: list[str] | None = None
    methods: list[str] | None = None
    protocol: str | None = None

    def execute(self, report: Callable[[str], None] = print) -> list[str]:
        """Materialize the selection; returns one line per failed stage."""
        methods = get_methods(self.methods)
        if self.materials:
            obelix.select_entries(obelix.load_table(settings.obelix_dir()), self.materials)
        temperatures = [temperature_key(t) for t in self.temperatures or []]
        seed_default_partitions(self.instance)
        add_partition_keys(self.instance, self.materials or [], temperatures)
        materials = self.materials or self.instance.get_dynamic_partitions(material_partitions.name)
        temperatures = temperatures or self.instance.get_dynamic_partitions(
            temperature_partitions.name
        )
        defs = load_definitions()
        resources = dict(defs.resources)
        if self.protocol:
            resources["simulation"] = SimulationSettings(protocol=self.protocol)
        failures: list[str] = []

        def stage(asset_keys: list[str], partition_key=None) -> bool:
            label = ", ".join(asset_keys) + (f" [{partition_key}]" if partition_key else "")
            report(f"materializing {label}")
            result = dg.materialize(
                assets=defs.assets,
                selection=[dg.AssetKey.from_user_string(k) for k in asset_keys],
                partition_key=partition_key,
                instance=self.instance,
                resources=resources,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags={"ionic-assets/launched-by": "cli"},
            )
            if not result.success:
                failures.append(f"{label}: {first_failure(result)}")
            return result.success

        stage(["obelix_subset"])
        built = [m for m in materials if stage(["supercells"], m)]
        for method in methods:
            for material in built:
                for temperature in temperatures:
                    stage(
                        [f"{method.key}/md_trajectories", f"{method.key}/diffusion_estimates"],
                        dg.MultiPartitionKey({"material": material, "temperature_K": temperature}),
                    )
                stage([f"{method.key}/arrhenius_fits"], material)
        stage(["benchmark_table"])
        return failures

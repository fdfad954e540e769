"""`ionic-assets run`: materialize the benchmark graph in-process, stage by stage.

Each stage is one Dagster run per partition, recorded in the given instance, in graph order:
obelix_subset, supercells[material], <method>/md_trajectories + diffusion_estimates
[material|T], <method>/arrhenius_fits[material], benchmark_table. A failed partition is reported
in one line and its downstream partitions are skipped; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ionic_assets.defs.materials.partitions import (
    add_partition_keys,
    material_partitions,
    seed_default_partitions,
    temperature_key,
    temperature_partitions,
)
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
    failures: list[str] = field(default_factory=list)

    def execute(self, report: Callable[[str], None] = print) -> list[str]:
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
        self._defs = defs
        self._resources = dict(defs.resources)
        if self.protocol:
            from ionic_assets.defs.resources import SimulationSettings

            self._resources["simulation"] = SimulationSettings(protocol=self.protocol)
        keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
        self._report = report

        self._stage(["obelix_subset"], None)
        ok_materials = [m for m in materials if self._stage(["supercells"], m)]
        for method in methods:
            chain = [
                k for k in ("md_trajectories", "diffusion_estimates") if f"{method.key}/{k}" in keys
            ]
            per_t = [f"{method.key}/{k}" for k in chain]
            for material in ok_materials:
                for temperature in temperatures:
                    key = dg.MultiPartitionKey({"material": material, "temperature_K": temperature})
                    self._stage(per_t, key)
                if f"{method.key}/arrhenius_fits" in keys:
                    self._stage([f"{method.key}/arrhenius_fits"], material)
        if "benchmark_table" in keys:
            self._stage(["benchmark_table"], None)
        return self.failures

    def _stage(self, asset_keys: list[str], partition_key) -> bool:
        if not asset_keys:
            return True
        label = f"{', '.join(asset_keys)}" + (f" [{partition_key}]" if partition_key else "")
        self._report(f"materializing {label}")
        result = dg.materialize(
            assets=self._defs.assets,
            selection=[dg.AssetKey.from_user_string(k) for k in asset_keys],
            partition_key=partition_key,
            instance=self.instance,
            resources=self._resources,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            tags={"ionic-assets/launched-by": "cli"},
        )
        if not result.success:
            self.failures.append(f"{label}: {first_failure(result)}")
        return result.success

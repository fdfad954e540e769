"""Resources shared by every asset: the warehouse (its tables in the DuckDB file or DuckLake,
lib/warehouse_backends.py; artifact files on the store of lib/storage.py) and run settings."""

import dagster as dg

from ionic_assets.lib.simulation import SimulationSettings
from ionic_assets.lib.warehouse import Warehouse
from ionic_assets.science.transport import MSD_THRESHOLD_A2


class SimulationResource(dg.ConfigurableResource, SimulationSettings):
    """How md_trajectories runs, as the `simulation` resource (fields and methods:
    `lib.simulation.SimulationSettings`)."""


class WarehouseResource(dg.ConfigurableResource, Warehouse):
    """The platform's storage, the warehouse tables and the artifact files, as the `warehouse`
    resource (fields and methods: `lib.warehouse.Warehouse`)."""


class AnalysisSettings(dg.ConfigurableResource):
    """How trajectories are analysed: MSD reliability threshold and kinisi settings name."""

    msd_threshold_A2: float = MSD_THRESHOLD_A2
    diffusion_settings: str = "default"


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "simulation": SimulationResource(),
            "analysis": AnalysisSettings(),
        }
    )

"""Resources shared by every asset: the warehouse (its tables in the DuckDB file or DuckLake,
lib/warehouse_backends.py; artifact files on the store of lib/storage.py) and run settings."""

import dagster as dg

from ionic_assets.lib import settings
from ionic_assets.lib.warehouse import Warehouse
from ionic_assets.science import protocols
from ionic_assets.science.transport import MSD_THRESHOLD_A2


class SimulationSettings(dg.ConfigurableResource):
    """How md_trajectories runs: protocol name, device and base seed.

    `protocol` None means IONIC_ASSETS_PROTOCOL, read when a run loads it, so a deployment can
    switch every run to `smoke` without editing run config; the CLI resolves it when its run
    starts and sets it in the run config, and the k8s executor sizes DFT pods by this resource
    as the run config resolves it (`executors/k8s.py`). It is looked up in `protocols_file`,
    else IONIC_ASSETS_PROTOCOLS_FILE.
    """

    protocol: str | None = None
    protocols_file: str | None = None
    device: str = "auto"
    seed: int = 20260101
    #: MD engine for MLIPs: auto, torch-sim or ase; None: IONIC_ASSETS_MD_ENGINE, read when
    #: used (science/md/choice.py).
    engine: str | None = None

    def md_engine(self) -> str:
        return self.engine or settings.MD_ENGINE.value()

    def load_protocol(self) -> protocols.Protocol:
        return settings.load_md_protocol(self.protocol, self.protocols_file)


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
            "simulation": SimulationSettings(),
            "analysis": AnalysisSettings(),
        }
    )

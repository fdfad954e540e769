"""Resources shared by every asset: the DuckDB warehouse and run settings."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from ionic_assets.lib import settings


class SimulationSettings(dg.ConfigurableResource):
    """How md_trajectories runs: protocol name, device and base seed.

    The protocol defaults to IONIC_ASSETS_PROTOCOL (else "paper") so a deployment or the CLI can
    switch every run to `smoke` without editing run config.
    """

    protocol: str = os.environ.get("IONIC_ASSETS_PROTOCOL", "paper")
    device: str = "auto"
    seed: int = 20260101


class AnalysisSettings(dg.ConfigurableResource):
    """How trajectories are analysed: MSD reliability threshold and kinisi settings name."""

    msd_threshold_A2: float = 20.0
    diffusion_settings: str = "default"


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": DuckDBResource(database=str(settings.duckdb_path())),
            "simulation": SimulationSettings(),
            "analysis": AnalysisSettings(),
        }
    )

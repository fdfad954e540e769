"""Declarative automation, on by default: diffusion_estimates follows md_trajectories,
arrhenius_fits follows any new temperature of its material, benchmark_table follows the fits.
The daemon (`dagster dev` starts one) evaluates it every 30 s."""

import dagster as dg

automation = dg.AutomationConditionSensorDefinition(
    "ionic_assets_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes downstream analysis when trajectories or estimates change.",
)

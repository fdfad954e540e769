"""<method>/diffusion_estimates -> <method>/arrhenius_fits: transport from the trajectories.

diffusion_estimates (material x temperature): Li tracer D with its 95% credible interval from
kinisi (`science.diffusion`), the MSD curve, and the `msd_reliable` check (max Li MSD >= 20 Å^2).
arrhenius_fits (material): D(T) = D0 exp(-Ea/kB T) over the temperatures available, extrapolated
to 300 K and converted to conductivity (`science.arrhenius`, `science.conductivity`). It refreshes
by itself when any temperature of its material is (re)materialized, missing temperatures allowed.
"""

import dagster as dg
import numpy as np
import pandas as pd

from ionic_assets.defs.materials.partitions import (
    material_partitions,
    simulation_key,
    simulation_partitions,
)
from ionic_assets.defs.resources import AnalysisSettings
from ionic_assets.lib.failures import clear_failure
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.records import ArrheniusRow, DiffusionRow
from ionic_assets.lib.reports import publish_figures
from ionic_assets.lib.warehouse import Warehouse, read_rows, upsert
from ionic_assets.science import arrhenius, diffusion, figures
from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.trajectory_import import load_trajectory
from ionic_assets.science.transport import Transport, analyze_transport

MSD_CHECK = "msd_reliable"

#: Refresh when any upstream partition updates, even while some temperatures are still missing.
#: An update counts until the asset is next requested, and it wins over a request made before it:
#: eager() also forgets it when the asset's own run ends later, so a dependency that finished
#: during that run was never picked up (benchmark_table kept a stale table).
REFRESH_WITH_MISSING_DEPS = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since(
        dg.AutomationCondition.newly_requested()
    )
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("any dependency updated since last requested")


def _md_row(warehouse: Warehouse, method: Method, material_id: str, temperature_K: float):
    with warehouse.get_connection(read_only=True) as conn:
        rows = read_rows(
            conn,
            "md_trajectories",
            "method = ? AND material_id = ? AND temperature_K = ?",
            [method.name, material_id, temperature_K],
        )
    if rows.empty:
        raise InputError(
            f"{method.name} {material_id} {temperature_K:g} K: no trajectory (materialize "
            "md_trajectories first)"
        )
    return rows.iloc[0]


def _estimate_row(method: Method, material_id: str, transport: Transport) -> DiffusionRow:
    estimate = transport.estimate
    return DiffusionRow(
        method=method.name,
        material_id=material_id,
        temperature_K=transport.temperature_K,
        estimable=True,
        D_cm2_s=estimate.D_cm2_s,
        D_ci95_lo_cm2_s=estimate.D_ci95_cm2_s[0],
        D_ci95_hi_cm2_s=estimate.D_ci95_cm2_s[1],
        D_samples_cm2_s=[float(x) for x in estimate.D_samples_cm2_s],
        sigma_mS_cm=transport.sigma_mS_cm,
        msd_dt_ps=[float(x) for x in estimate.msd_dt_ps],
        msd_A2=[float(x) for x in estimate.msd_A2],
        msd_max_A2=estimate.msd_max_A2,
        msd_threshold_A2=transport.msd_threshold_A2,
        reliable=transport.reliable,
        n_frames=estimate.n_frames,
        n_li=transport.n_li,
        volume_A3=transport.volume_A3,
        provenance=estimate.provenance,
    )


def build_diffusion_estimates(method: Method) -> dg.AssetsDefinition:
    key = dg.AssetKey([method.key, "diffusion_estimates"])

    @dg.asset(
        key=key,
        partitions_def=simulation_partitions,
        deps=[dg.AssetKey([method.key, "md_trajectories"])],
        group_name=method.key,
        kinds={"duckdb", "kinisi"},
        owners=["team:analysis"],
        check_specs=[
            dg.AssetCheckSpec(
                MSD_CHECK,
                asset=key,
                partitions_def=simulation_partitions,
                description="The Li MSD reaches the reliability threshold (20 Å² by default): "
                "below it the estimate mostly reflects thermal vibration.",
            )
        ],
        automation_condition=dg.AutomationCondition.eager(),
        description=f"Li tracer diffusion coefficient with 95% credible interval ({method.name}).",
    )
    def diffusion_estimates(
        context: dg.AssetExecutionContext, analysis: AnalysisSettings, warehouse: Warehouse
    ):
        material, temperature_K = simulation_key(context)
        threshold = analysis.msd_threshold_A2
        with clear_failure():
            md_row = _md_row(warehouse, method, material, temperature_K)
            store = warehouse.artifacts()  # the trajectory may come from another pod's step
            with store.local_copy(store.relpath(md_row["trajectory_path"]), "r") as path:
                trajectory = load_trajectory(path)
            try:
                transport = analyze_transport(
                    trajectory,
                    equilibration_ps=float(md_row["equilibration_ps"]),
                    fit_start_ps=float(md_row["diffusion_fit_start_ps"]),
                    settings=diffusion.named_settings(analysis.diffusion_settings),
                    msd_threshold_A2=threshold,
                )
                record = _estimate_row(method, material, transport)
            except NotEstimable as exc:  # a result to record, not a failure
                context.log.warning(f"{material} {temperature_K:g} K: not estimable: {exc}")
                record = DiffusionRow(
                    method=method.name,
                    material_id=material,
                    temperature_K=temperature_K,
                    estimable=False,
                    reason=str(exc),
                    msd_threshold_A2=threshold,
                    reliable=False,
                )
        upsert(warehouse, record)
        row = record.as_row()
        msd_max = scalars(row, ["msd_max_A2"]).get("msd_max_A2")
        yield dg.MaterializeResult(
            metadata=scalars(
                row,
                [
                    "D_cm2_s",
                    "D_ci95_lo_cm2_s",
                    "D_ci95_hi_cm2_s",
                    "sigma_mS_cm",
                    "msd_max_A2",
                    "n_frames",
                    "reason",
                ],
            )
        )
        yield dg.AssetCheckResult(
            check_name=MSD_CHECK,
            passed=bool(row["reliable"]),
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"max Li MSD {msd_max:.1f} Å² vs threshold {threshold:g} Å²"
                if msd_max is not None
                else f"not estimable: {row['reason']}"
            ),
            metadata={
                "msd_max_A2": msd_max if msd_max is not None else float("nan"),
                "threshold_A2": threshold,
            },
        )

    return diffusion_estimates


def _material_figures(method: Method, material_id: str, points: pd.DataFrame, fit) -> dict:
    """The Arrhenius and MSD figures of one material by file name (published under
    `reports/<method>/<material_id>/` on the artifact store)."""
    curves = points[["temperature_K", "msd_dt_ps", "msd_A2"]].explode(["msd_dt_ps", "msd_A2"])
    curves = curves.rename(columns={"msd_dt_ps": "dt_ps"})  # msd_figure drops not-estimable NAs
    threshold = float(points["msd_threshold_A2"].iloc[0])
    return {
        "arrhenius": figures.arrhenius_figure(points, fit, material_id, method.name),
        "msd": figures.msd_figure(curves, threshold, material_id, method.name),
    }


def build_arrhenius_fits(method: Method) -> dg.AssetsDefinition:
    @dg.asset(
        key=[method.key, "arrhenius_fits"],
        partitions_def=material_partitions,
        deps=[
            dg.AssetDep(
                dg.AssetKey([method.key, "diffusion_estimates"]),
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name="material"
                ),
            )
        ],
        group_name=method.key,
        kinds={"duckdb", "plotly"},
        owners=["team:analysis"],
        automation_condition=REFRESH_WITH_MISSING_DEPS,
        description=f"Arrhenius fit and 300 K conductivity per material ({method.name}).",
    )
    def arrhenius_fits(context: dg.AssetExecutionContext, warehouse: Warehouse):
        material = context.partition_key
        with warehouse.get_connection(read_only=True) as conn:
            points = read_rows(
                conn,
                "diffusion_estimates",
                "method = ? AND material_id = ? ORDER BY temperature_K",
                [method.name, material],
            )
        if points.empty:
            raise dg.Failure(f"{method.name} {material}: no diffusion estimates yet")
        usable = points[points["estimable"]]
        observed = {
            "method": method.name,
            "material_id": material,
            "temperatures_K": [float(t) for t in points["temperature_K"]],
            "n_temperatures": len(points),
            "n_reliable": int(points["reliable"].sum()),
        }
        fit = None
        try:
            fit = arrhenius.fit_arrhenius(
                usable["temperature_K"].to_numpy(float),
                [np.asarray(s, float) for s in usable["D_samples_cm2_s"]],
                n_li=int(usable["n_li"].iloc[0]) if len(usable) else 0,
                volume_A3=float(usable["volume_A3"].iloc[0]) if len(usable) else 0.0,
            )
            record = ArrheniusRow(**observed, estimable=True, **fit.as_row())
        except NotEstimable as exc:
            context.log.warning(f"{method.name} {material}: Arrhenius fit not estimable: {exc}")
            record = ArrheniusRow(**observed, estimable=False, reason=str(exc))
        upsert(warehouse, record)
        row = record.as_row()
        named = _material_figures(
            method, material, usable if len(usable) else points, fit.as_row() if fit else None
        )
        metadata = scalars(
            row,
            [
                "n_temperatures",
                "n_reliable",
                "reason",
                "Ea_eV",
                "Ea_ci95_lo_eV",
                "Ea_ci95_hi_eV",
                "D300_cm2_s",
                "sigma300_mS_cm",
                "sigma300_ci95_lo_mS_cm",
                "sigma300_ci95_hi_mS_cm",
            ],
        )
        metadata |= publish_figures(
            warehouse.artifacts(), f"reports/{method.key}/{material}", named
        )
        return dg.MaterializeResult(metadata=metadata)

    return arrhenius_fits


@dg.definitions
def defs() -> dg.Definitions:
    methods = list(load_methods().values())
    return dg.Definitions(
        assets=[
            build(m) for m in methods for build in (build_diffusion_estimates, build_arrhenius_fits)
        ]
    )

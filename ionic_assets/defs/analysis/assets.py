"""<method>/diffusion_estimates -> <method>/arrhenius_fits: transport from the trajectories.

diffusion_estimates (material x temperature): Li tracer D with its 95% credible interval from
kinisi (`science.diffusion`), combined over the partition's seed replicas (`science.replicas`),
the collective conductivity and Haven ratio (`science.collective`), the MSD curve, and the
checks `msd_reliable` (max Li MSD >= 20 Å^2), `kinisi_matches_ols` (kinisi's slope within a
stated factor of an ordinary-least-squares slope over the same window) and `framework_solid`
(the framework's Lindemann ratio below 0.15, `science.melting`).
arrhenius_fits (material; rows keyed by method, material and protocol): D(T) = D0 exp(-Ea/kB T)
over the temperatures available whose trajectories ran the run's protocol, extrapolated
to 300 K and converted to conductivity (`science.arrhenius`, `science.conductivity`), by the
tracer and the collective route, with the fit diagnostics and the `Ea_physical` check. It
refreshes by itself when any temperature of its material is (re)materialized, missing
temperatures allowed. A partition whose framework melted is left out of the fit, its reason in
`excluded_json`.
"""

import dagster as dg
import numpy as np
import pandas as pd

from ionic_assets.defs.failures import clear_failure
from ionic_assets.defs.materials.partitions import (
    material_partitions,
    simulation_key,
    simulation_partitions,
)
from ionic_assets.defs.reports import publish_figures, title_note
from ionic_assets.defs.resources import AnalysisSettings, SimulationResource, WarehouseResource
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.records import ArrheniusRow, DiffusionRow
from ionic_assets.lib.warehouse import partition_row, read_rows, upsert
from ionic_assets.science import arrhenius, diffusion, figures, melting
from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.trajectory import Trajectory
from ionic_assets.science.trajectory_import import load_trajectory
from ionic_assets.science.transport import ReplicaTransport, analyze_replicas

MSD_CHECK = "msd_reliable"
OLS_CHECK = "kinisi_matches_ols"
EA_CHECK = "Ea_physical"
MELT_CHECK = "framework_solid"

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


def md_row(warehouse: WarehouseResource, method: Method, material_id: str, temperature_K: float):
    row = partition_row(warehouse, "md_trajectories", method.name, material_id, temperature_K)
    if row is None:
        raise InputError(
            f"{method.name} {material_id} {temperature_K:g} K: no trajectory (materialize "
            "md_trajectories first)"
        )
    return row


def run_protocol(method: Method, simulation: SimulationResource) -> str:
    """The protocol of the run's trajectories of `method` (as md_trajectories records it): the
    fits and tables a run reads and writes are of this protocol only."""
    return method.protocol_name(simulation.load_protocol().name)


#: A method's material's rows of md_trajectories under one protocol.
OF_PROTOCOL = "method = ? AND material_id = ? AND protocol = ?"


def protocol_points(conn, method: str, material: str, protocol: str) -> pd.DataFrame:
    """The diffusion_estimates rows of a material whose trajectories ran `protocol`, coolest
    first (the table is keyed by temperature: another protocol's run replaces them)."""
    where = (
        "method = ? AND material_id = ? AND temperature_K IN "
        f"(SELECT temperature_K FROM md_trajectories WHERE {OF_PROTOCOL}) ORDER BY temperature_K"
    )
    return read_rows(conn, "diffusion_estimates", where, [method, material] * 2 + [protocol])


def _replica_files(md) -> tuple[list[str], list[int]]:
    """The partition's trajectory URLs and velocity seeds, replica 0 first (rows written before
    replicas existed, and imported trajectories, have one)."""
    paths = md.get("replica_paths")
    if not isinstance(paths, list | np.ndarray) or len(paths) == 0:
        seed = md.get("seed")
        return [md["trajectory_path"]], [int(seed) if pd.notna(seed) else 0]
    return list(paths), [int(s) for s in md["replica_seeds"]]


def partition_trajectories(warehouse: WarehouseResource, md) -> tuple[list[Trajectory], list[int]]:
    """The trajectories of a partition (an md_trajectories row), all replicas, and their seeds."""
    store = warehouse.artifacts()  # the trajectories may come from another pod's step
    paths, seeds = _replica_files(md)
    trajectories = []
    for url in paths:
        with store.local_copy(store.relpath(url), "r") as path:
            trajectories.append(load_trajectory(path))
    return trajectories, seeds


def analyze_trajectories(
    trajectories: list[Trajectory],
    seeds: list[int],
    md,
    analysis: AnalysisSettings,
    with_collective: bool = True,
) -> ReplicaTransport:
    """The transport of a partition's trajectories with the windows of its md row."""
    return analyze_replicas(
        trajectories,
        seeds,
        with_collective,
        equilibration_ps=float(md["equilibration_ps"]),
        fit_start_ps=float(md["diffusion_fit_start_ps"]),
        settings=diffusion.named_settings(analysis.diffusion_settings),
        msd_threshold_A2=analysis.msd_threshold_A2,
    )


def analyze_partition(
    warehouse: WarehouseResource, md, analysis: AnalysisSettings
) -> ReplicaTransport:
    """The transport of a partition's trajectories (an md_trajectories row), all replicas."""
    return analyze_trajectories(*partition_trajectories(warehouse, md), md, analysis)


def fit_points(points: pd.DataFrame) -> tuple[pd.DataFrame, dict[float, str]]:
    """The diffusion_estimates rows the Arrhenius fit uses (estimable, framework not melted)
    and the melted temperatures left out, with their reason (`fit_arrhenius(left_out=...)`)."""
    melted = points["estimable"] & points["melted"].eq(True)
    left_out = {
        float(r.temperature_K): melting.melted_reason(r.framework_lindemann_ratio)
        for r in points[melted].itertuples()
    }
    return points[points["estimable"] & ~melted], left_out


def melting_check(row: dict) -> dg.AssetCheckResult:
    """Fails (warning) when the framework's Lindemann ratio reaches the melting threshold."""
    ratio, threshold = row.get("framework_lindemann_ratio"), row.get("lindemann_threshold")
    if ratio is None or pd.isna(ratio):
        why = row.get("reason") or "fewer than 2 framework atoms"
        return dg.AssetCheckResult(
            check_name=MELT_CHECK, passed=True, description=f"no Lindemann ratio: {why}"
        )
    return dg.AssetCheckResult(
        check_name=MELT_CHECK,
        passed=not row["melted"],
        severity=dg.AssetCheckSeverity.WARN,
        description=f"framework Lindemann ratio {ratio:.3f} vs threshold {threshold:g}"
        + (" (melted: left out of the Arrhenius fit)" if row["melted"] else ""),
        metadata={"lindemann_ratio": float(ratio), "threshold": float(threshold)},
    )


def ols_check(row: dict) -> dg.AssetCheckResult:
    """Fails when kinisi's D of a replica and the OLS D over the same window differ by more
    than the stated factor; the metadata hold both numbers of the worst replica."""
    if not row.get("estimable"):
        return dg.AssetCheckResult(
            check_name=OLS_CHECK, passed=True, description=f"no D: {row.get('reason')}"
        )
    kinisi_D, ols_D = row["replica_D_cm2_s"], row["replica_D_ols_cm2_s"]
    worst = max(range(len(kinisi_D)), key=lambda i: _log_gap(kinisi_D[i], ols_D[i]))
    factor = row["ols_agreement_factor"]
    return dg.AssetCheckResult(
        check_name=OLS_CHECK,
        passed=bool(row["ols_agrees"]),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"kinisi D {kinisi_D[worst]:.3g} vs OLS D {ols_D[worst]:.3g} cm²/s "
        f"(replica seed {row['replica_seeds'][worst]}; allowed factor {factor:g})",
        metadata={
            "D_kinisi_cm2_s": float(kinisi_D[worst]),
            "D_ols_cm2_s": float(ols_D[worst]),
            "replica_seed": int(row["replica_seeds"][worst]),
            "allowed_factor": float(factor),
        },
    )


def _log_gap(a: float, b: float) -> float:
    return abs(np.log(a / b)) if a > 0 and b > 0 else np.inf


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
            ),
            dg.AssetCheckSpec(
                OLS_CHECK,
                asset=key,
                partitions_def=simulation_partitions,
                description="kinisi's covariance-weighted D agrees within a factor "
                f"{diffusion.OLS_AGREEMENT_FACTOR:g} with an ordinary-least-squares slope over "
                "the same window (kinisi's regression can return a slope off by up to 1000x).",
            ),
            dg.AssetCheckSpec(
                MELT_CHECK,
                asset=key,
                partitions_def=simulation_partitions,
                description="The framework stays solid: its Lindemann ratio (RMS displacement "
                f"about the mean positions / nearest-neighbour distance) is below "
                f"{melting.LINDEMANN_MELTED:g}; a melted partition is left out of the Arrhenius "
                "fit.",
            ),
        ],
        automation_condition=dg.AutomationCondition.eager(),
        description=f"Li tracer diffusion coefficient with 95% credible interval ({method.name}).",
    )
    def diffusion_estimates(
        context: dg.AssetExecutionContext, analysis: AnalysisSettings, warehouse: WarehouseResource
    ):
        material, temperature_K = simulation_key(context)
        threshold = analysis.msd_threshold_A2
        with clear_failure():
            md = md_row(warehouse, method, material, temperature_K)
            try:
                transport = analyze_partition(warehouse, md, analysis)
                record = DiffusionRow(
                    method=method.name,
                    material_id=material,
                    temperature_K=temperature_K,
                    estimable=True,
                    provenance=transport.replicas[0].estimate.provenance,
                    **transport.row(),
                )
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
                    "n_replicas",
                    "replicas_consistent",
                    "sigma_collective_mS_cm",
                    "haven_ratio",
                    "collective_reason",
                    "framework_lindemann_ratio",
                    "reason",
                ],
            )
        )
        yield ols_check(row)
        yield melting_check(row)
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


def _material_figures(
    method: Method, material_id: str, points: pd.DataFrame, fit, note: str | None = None
) -> dict:
    """The Arrhenius and MSD figures of one material by file name (published under
    `reports/<method>/<material_id>/` on the artifact store), `note` heading their titles
    (`defs.reports.title_note`: a smoke run says so)."""
    curves = points[["temperature_K", "msd_dt_ps", "msd_A2"]].explode(["msd_dt_ps", "msd_A2"])
    curves = curves.rename(columns={"msd_dt_ps": "dt_ps"})  # msd_figure drops not-estimable NAs
    threshold = float(points["msd_threshold_A2"].iloc[0])
    return {
        "arrhenius": figures.arrhenius_figure(
            points, fit, material_id, method.name, title_note=note
        ),
        "msd": figures.msd_figure(curves, threshold, material_id, method.name, title_note=note),
    }


def _collective_route(usable: pd.DataFrame, tracer) -> dict:
    """The collective-route columns from the estimable temperatures' D_sigma samples."""
    if usable.empty:
        return {"collective_reason": "no estimable temperature"}
    samples = [
        np.asarray(s, float) if isinstance(s, list | np.ndarray) and len(s) else None
        for s in usable["D_sigma_samples_cm2_s"]
    ]
    return arrhenius.collective_route(
        usable["temperature_K"].to_numpy(float),
        samples,
        list(usable["collective_reason"]),
        n_li=int(usable["n_li"].iloc[0]),
        volume_A3=float(usable["volume_A3"].iloc[0]),
        tracer=tracer,
    )


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
        check_specs=[
            dg.AssetCheckSpec(
                EA_CHECK,
                asset=[method.key, "arrhenius_fits"],
                partitions_def=material_partitions,
                description="The activation energy is physical: Ea > 0 and most of its 95% "
                "interval above zero (else D rises towards 300 K and the extrapolation is "
                "not to be trusted).",
            )
        ],
        description=f"Arrhenius fit and 300 K conductivity per material, tracer and collective "
        f"routes, with fit diagnostics ({method.name}).",
    )
    def arrhenius_fits(
        context: dg.AssetExecutionContext,
        simulation: SimulationResource,
        warehouse: WarehouseResource,
    ):
        material, protocol = context.partition_key, run_protocol(method, simulation)
        points, note = warehouse.run(
            lambda conn: (
                protocol_points(conn, method.name, material, protocol),
                title_note(conn, OF_PROTOCOL, [method.name, material, protocol]),
            ),
            read_only=True,
        )
        if points.empty:
            raise dg.Failure(
                f"{method.name} {material}: no diffusion estimates of protocol {protocol} yet"
            )
        usable, left_out = fit_points(points)
        observed = {
            "method": method.name,
            "material_id": material,
            "protocol": protocol,
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
                left_out=left_out,
            )
            observed |= {"estimable": True, **fit.as_row()}
        except NotEstimable as exc:
            context.log.warning(f"{method.name} {material}: Arrhenius fit not estimable: {exc}")
            observed |= {"estimable": False, "reason": str(exc)}
        record = ArrheniusRow(**observed, **_collective_route(usable, fit))
        upsert(warehouse, record)
        row = record.as_row()
        if row["Ea_nonphysical"]:
            context.log.warning(
                f"{method.name} {material}: non-physical Ea = {row['Ea_eV']:.3f} eV "
                f"[{row['Ea_ci95_lo_eV']:.3f}, {row['Ea_ci95_hi_eV']:.3f}]: the 300 K "
                "extrapolation is flagged (Ea_nonphysical), not to be trusted"
            )
        named = _material_figures(
            method,
            material,
            usable if len(usable) else points,
            fit.as_row() if fit else None,
            note,
        )
        metadata = scalars(
            row,
            [
                "protocol",
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
                "Ea_nonphysical",
                "non_arrhenius",
                "curvature_K2",
                "collective_Ea_eV",
                "collective_sigma300_mS_cm",
                "haven_ratio_300",
                "collective_reason",
            ],
        )
        metadata |= publish_figures(
            warehouse.artifacts(), f"reports/{method.key}/{material}", named
        )
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name=EA_CHECK,
            passed=not row["Ea_nonphysical"],
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"Ea = {row['Ea_eV']:.3f} eV [{row['Ea_ci95_lo_eV']:.3f}, "
                f"{row['Ea_ci95_hi_eV']:.3f}]"
                if row["estimable"]
                else f"no fit: {row['reason']}"
            ),
            metadata=scalars(row, ["Ea_eV", "Ea_ci95_lo_eV", "Ea_ci95_hi_eV"]),
        )

    return arrhenius_fits


@dg.definitions
def defs() -> dg.Definitions:
    methods = list(load_methods().values())
    return dg.Definitions(
        assets=[
            build(m) for m in methods for build in (build_diffusion_estimates, build_arrhenius_fits)
        ]
    )

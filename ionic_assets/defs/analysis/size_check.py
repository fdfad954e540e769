"""<method>/size_check: the finite-size check of chosen (material, temperature) partitions.

On demand (no automation: a wider cell costs several times the MD): materializing a partition
builds the wider cell (stored in `supercells` beside the protocol's) and reruns its MD, with
the same protocol, seeds and replicas, in a cell at least `min_width_A` wide (15 Å by default,
asset config), beside the protocol's trajectory (`<T>K.w15.h5`), analyses it as
diffusion_estimates does, and records both D, their ratio and whether they agree within their
intervals (`science.finite_size`) in the DuckDB table `size_checks`. The benchmark table shows
per material whether every checked temperature agreed (`size_consistent`).
"""

import dagster as dg
import pandas as pd

from ionic_assets.defs.analysis.assets import analyze_partition, md_row
from ionic_assets.defs.failures import clear_failure
from ionic_assets.defs.materials.assets import supercell_row
from ionic_assets.defs.materials.partitions import simulation_key, simulation_partitions
from ionic_assets.defs.resources import (
    AnalysisSettings,
    SimulationResource,
    WarehouseResource,
)
from ionic_assets.defs.simulation.assets import simulate
from ionic_assets.lib import settings
from ionic_assets.lib.k8s import pod_tags, pool_of
from ionic_assets.lib.metadata import ON_DEMAND_TAG, scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.records import SizeCheckRow
from ionic_assets.lib.warehouse import partition_row, upsert
from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import NotEstimable
from ionic_assets.science.finite_size import compare_sizes
from ionic_assets.science.ordering import OrderingSettings


class SizeCheckConfig(dg.Config):
    min_width_A: float = 15.0  # the wider cell's minimum perpendicular width, Å


def _store_wider_cell(warehouse: WarehouseResource, material: str, width_A: float) -> None:
    """Build the material's cell at `width_A` with the platform's one cell builder
    (`structures.simulation_cell`, default ordering settings) and store it in `supercells`
    beside the protocol's, where the MD reads it."""
    unit = obelix.read_structure(settings.OBELIX_DATA_DIR.value(), material)
    cell = structures.simulation_cell(unit, material, width_A, OrderingSettings(), None)
    upsert(warehouse, supercell_row(material, width_A, cell))


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _comparison(base, row: dict) -> dict:
    """D at both sizes with their ratio and agreement, or the reason there is none."""
    if base is None or not base["estimable"]:
        why = "no estimate" if base is None else base["reason"]
        return {"reason": f"protocol cell: {why}"}
    lo, hi = base["D_ci95_lo_cm2_s"], base["D_ci95_hi_cm2_s"]
    check = row["check_D_cm2_s"], (row["check_D_ci95_lo_cm2_s"], row["check_D_ci95_hi_cm2_s"])
    comparison = compare_sizes(base["D_cm2_s"], (lo, hi), *check)
    return {
        "D_cm2_s": base["D_cm2_s"],
        "D_ci95_lo_cm2_s": lo,
        "D_ci95_hi_cm2_s": hi,
        "D_ratio": comparison.ratio,
        "agree": comparison.agree,
    }


def build_size_check(method: Method) -> dg.AssetsDefinition:
    @dg.asset(
        key=[method.key, "size_check"],
        partitions_def=simulation_partitions,
        deps=[dg.AssetKey([method.key, "diffusion_estimates"])],
        group_name=method.key,
        kinds={"duckdb", "hdf5"},
        owners=["team:analysis"],
        tags={ON_DEMAND_TAG: "true"},  # `ionic-assets run` leaves it out
        op_tags=pod_tags(method),
        pool=pool_of(method),
        description=f"Finite-size check ({method.name}): D in a wider cell (15 Å by default) "
        "against D in the protocol's cell, on demand for chosen partitions.",
    )
    def size_check(
        context: dg.AssetExecutionContext,
        config: SizeCheckConfig,
        simulation: SimulationResource,
        analysis: AnalysisSettings,
        warehouse: WarehouseResource,
    ):
        material, temperature_K = simulation_key(context)
        width = config.min_width_A
        with clear_failure():
            base_md = md_row(warehouse, method, material, temperature_K)
            _store_wider_cell(warehouse, material, width)
            (outcome,) = simulate(
                context, method, simulation, warehouse, [(material, temperature_K)], width
            )
            if isinstance(outcome, Exception):
                raise outcome
            produced = outcome[0].as_row()
            row = {
                "method": method.name,
                "material_id": material,
                "temperature_K": temperature_K,
                "min_width_A": _number(base_md.get("min_width_A")),
                "check_width_A": width,
                "n_atoms": base_md["n_atoms"],
                "check_n_atoms": produced["n_atoms"],
                "check_trajectory_path": produced["trajectory_path"],
            }
            try:
                check = analyze_partition(warehouse, produced, analysis).row()
                row |= {f"check_{k}": check[k] for k in
                        ("D_cm2_s", "D_ci95_lo_cm2_s", "D_ci95_hi_cm2_s")}  # fmt: skip
                row |= _comparison(
                    partition_row(
                        warehouse, "diffusion_estimates", method.name, material, temperature_K
                    ),
                    row,
                )
            except NotEstimable as exc:
                row["reason"] = f"wider cell: {exc}"
        upsert(warehouse, SizeCheckRow(**row))
        return dg.MaterializeResult(
            metadata=scalars(
                row,
                [
                    "check_width_A",
                    "n_atoms",
                    "check_n_atoms",
                    "D_cm2_s",
                    "check_D_cm2_s",
                    "D_ratio",
                    "agree",
                    "reason",
                ],
            )  # fmt: skip
        )

    return size_check


@dg.definitions
def defs() -> dg.Definitions:
    methods = [m for m in load_methods().values() if m.kind != "imported"]
    return dg.Definitions(assets=[build_size_check(m) for m in methods])

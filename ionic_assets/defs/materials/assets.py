"""obelix_subset -> supercells: the benchmarked materials and the cells they are simulated in."""

import functools

import dagster as dg
import pandas as pd

from ionic_assets.defs.materials.partitions import material_partitions, seed_default_partitions
from ionic_assets.lib import settings
from ionic_assets.lib.failures import clear_failure
from ionic_assets.lib.records import ObelixSubsetRow, SupercellRow
from ionic_assets.lib.warehouse import Warehouse, replace_rows, upsert
from ionic_assets.science import obelix, structures
from ionic_assets.science.errors import InputError


class ObelixSubsetConfig(dg.Config):
    """Which OBELiX entries to benchmark.

    By default the paper's 21 materials plus every material partition key already registered.
    `material_ids` replaces the paper's list; `draw_seed` draws a new subset with the paper's
    procedure (log-spaced conductivity bins over fully occupied entries).
    """

    material_ids: list[str] | None = None
    draw_seed: int | None = None
    occupancy_tolerance: float = 0.05


def _subset_ids(config: ObelixSubsetConfig, table: pd.DataFrame, registered: list[str], ordered):
    if config.draw_seed is not None:
        return obelix.draw_subset(table[[ordered(m) for m in table.index]], config.draw_seed)
    base = list(config.material_ids or obelix.PAPER_MATERIAL_IDS)
    return list(dict.fromkeys(base + registered))


def _is_ordered(material_id: str, tolerance: float) -> bool:
    try:
        unit = obelix.read_structure(settings.obelix_dir(), material_id)
    except InputError:
        return False
    return structures.is_ordered(unit, tolerance)


@dg.asset(
    group_name="materials",
    kinds={"duckdb", "python"},
    owners=["team:materials"],
    description="OBELiX entries benchmarked, with experimental conductivity in mS/cm.",
)
def obelix_subset(
    context: dg.AssetExecutionContext, config: ObelixSubsetConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    data_dir = settings.obelix_dir()
    seed_default_partitions(context.instance)
    registered = context.instance.get_dynamic_partitions(material_partitions.name)
    # Each CIF is parsed once per materialization, whichever of the two uses asks first.
    ordered = functools.cache(lambda m: _is_ordered(m, config.occupancy_tolerance))
    with clear_failure():
        table = obelix.load_table(data_dir)
        ids = _subset_ids(config, table, registered, ordered)
        entries = obelix.select_entries(table, ids)
    records = [
        ObelixSubsetRow(
            material_id=material_id,
            formula=entry["Reduced Composition"],
            sigma_exp_mS_cm=float(entry["sigma_exp_mS_cm"]),
            space_group=entry["Space group"].strip(),
            space_group_number=int(entry["Space group #"]),
            family=entry["Family"],
            doi=entry["DOI"],
            is_ordered=ordered(material_id),
        )
        for material_id, entry in entries.iterrows()
    ]
    rows = pd.DataFrame([r.as_row() for r in records])
    with warehouse.get_connection() as conn:
        replace_rows(conn, ObelixSubsetRow.TABLE, rows, ObelixSubsetRow.KEY)
    new = [m for m in ids if m not in registered]
    if new:
        context.instance.add_dynamic_partitions(material_partitions.name, new)
    return dg.MaterializeResult(
        metadata={
            "n_materials": len(rows),
            "obelix_dir": str(data_dir),
            "preview": dg.MetadataValue.md(rows.to_markdown(index=False)),
        }
    )


class SupercellConfig(dg.Config):
    """Supercell rule and occupancy handling (see `structures.order_structure`)."""

    min_width_A: float = 10.0
    occupancy_tolerance: float = 0.05
    ordering_strategy: str | None = None


@dg.asset(
    partitions_def=material_partitions,
    deps=[obelix_subset],
    group_name="materials",
    kinds={"duckdb", "pymatgen"},
    owners=["team:materials"],
    description="The smallest diagonal supercell whose perpendicular widths are all >= 10 Å.",
)
def supercells(
    context: dg.AssetExecutionContext, config: SupercellConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    material = context.partition_key
    with clear_failure():
        unit = obelix.read_structure(settings.obelix_dir(), material)
        ordered, fixes = structures.order_structure(
            unit,
            material,
            tolerance=config.occupancy_tolerance,
            strategy=config.ordering_strategy,
        )
    cell = structures.build_supercell(ordered, config.min_width_A)
    row = SupercellRow(
        material_id=material,
        formula=ordered.composition.reduced_formula,
        min_width_A=config.min_width_A,
        replication=list(cell.replication),
        widths_A=list(cell.widths_A),
        n_atoms=cell.n_atoms,
        n_li=cell.n_li,
        volume_A3=cell.volume_A3,
        occupancy_fixes=[f.__dict__ for f in fixes],
        unit_cell_cif=ordered.to(fmt="cif"),
        supercell_cif=cell.structure.to(fmt="cif"),
    )
    upsert(warehouse, row)
    return dg.MaterializeResult(
        metadata={
            "n_atoms": cell.n_atoms,
            "n_li": cell.n_li,
            "volume_A3": cell.volume_A3,
            "replication": "x".join(map(str, cell.replication)),
            "min_perpendicular_width_A": min(cell.widths_A),
            "occupancies_rounded": len(fixes),
            "occupancy_fixes": dg.MetadataValue.json([f.__dict__ for f in fixes]),
        }
    )

"""obelix_subset -> supercells: the benchmarked materials and the cells they are simulated in."""

import dataclasses
import functools
import typing

import dagster as dg
import pandas as pd
import pydantic

from ionic_assets.defs.failures import clear_failure
from ionic_assets.defs.materials.partitions import material_partitions, seed_default_partitions
from ionic_assets.defs.resources import SimulationResource, WarehouseResource
from ionic_assets.lib import settings
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.records import ObelixSubsetRow, SupercellRow
from ionic_assets.lib.warehouse import replace_rows, upsert
from ionic_assets.science import forcefields, obelix, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.ordering import OrderingSettings
from ionic_assets.science.ordering.checks import sanity_checks

#: The asset check of every ordered cell (science.ordering.checks).
SANE_CHECK = "ordered_cell_sane"


class ObelixSubsetConfig(dg.Config):
    """Which OBELiX entries to benchmark.

    By default the paper's 21 materials plus every material partition key already registered.
    `material_ids` replaces the paper's list with any entries that have a CIF (disordered ones
    included: `supercells` orders them). `draw_seed` draws a new subset with the paper's
    procedure (log-spaced conductivity bins) over the fully occupied entries, as the paper did,
    or with `draw_over: all` over every entry with a CIF.
    """

    material_ids: list[str] | None = None
    draw_seed: int | None = None
    draw_over: str = "ordered"
    occupancy_tolerance: float = 0.05


DRAW_POOLS = ("ordered", "all")


def _subset_ids(config: ObelixSubsetConfig, table: pd.DataFrame, registered: list[str], ordered):
    if config.draw_seed is not None:
        if config.draw_over not in DRAW_POOLS:
            raise InputError(f"draw_over {config.draw_over!r}: must be one of {DRAW_POOLS}")
        with_cif = [
            obelix.cif_path(settings.OBELIX_DATA_DIR.value(), m).is_file() for m in table.index
        ]
        pool = table[with_cif]
        if config.draw_over == "ordered":
            pool = pool[[ordered(m) for m in pool.index]]
        return obelix.draw_subset(pool, config.draw_seed)
    base = list(config.material_ids or obelix.PAPER_MATERIAL_IDS)
    return list(dict.fromkeys(base + registered))


def _require_cifs(ids: list[str]) -> None:
    missing = [m for m in ids if not obelix.cif_path(settings.OBELIX_DATA_DIR.value(), m).is_file()]
    if missing:
        raise InputError(f"OBELiX ID(s) without a CIF: {', '.join(missing)}")


def _is_ordered(material_id: str, tolerance: float) -> bool:
    try:
        unit = obelix.read_structure(settings.OBELIX_DATA_DIR.value(), material_id)
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
    context: dg.AssetExecutionContext, config: ObelixSubsetConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    data_dir = settings.OBELIX_DATA_DIR.value()
    seed_default_partitions(context.instance)
    registered = context.instance.get_dynamic_partitions(material_partitions.name)
    # Each CIF is parsed once per materialization, whichever of the two uses asks first.
    ordered = functools.cache(lambda m: _is_ordered(m, config.occupancy_tolerance))
    with clear_failure():
        table = obelix.load_table(data_dir)
        ids = _subset_ids(config, table, registered, ordered)
        entries = obelix.select_entries(table, ids)
        _require_cifs(ids)
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
    warehouse.run(lambda conn: replace_rows(conn, ObelixSubsetRow.TABLE, rows, ObelixSubsetRow.KEY))
    new = [m for m in ids if m not in registered]
    if new:
        context.instance.add_dynamic_partitions(material_partitions.name, new)
    return dg.MaterializeResult(
        metadata={
            "n_materials": len(rows),
            "obelix_dir": str(data_dir),
            "n_disordered": int((~rows["is_ordered"]).sum()),
            **(
                {"draw_seed": config.draw_seed, "draw_over": config.draw_over}
                if config.draw_seed is not None
                else {}
            ),
            "preview": dg.MetadataValue.md(rows.to_markdown(index=False)),
        }
    )


#: The config's name of an OrderingSettings field where it differs (the supercells column's).
_CONFIG_NAMES = {"strategy": "ordering_strategy"}
_ORDERING_FIELDS = dataclasses.fields(OrderingSettings)
_ORDERING_TYPES = typing.get_type_hints(OrderingSettings)


class _RankedOrdering(dg.Config):
    """How a partially occupied structure is ordered: every field of
    `science.ordering.OrderingSettings` (its `strategy` as `ordering_strategy`), and `rank_by`.

    The width comes from the MD protocol (`min_cell_width_A` of the `simulation` resource's
    protocol): one setting for the cell that is built, stored, simulated and sized.
    `rank_by`: "ewald", or the name of an `mlip` method whose force model ranks the `sampled`
    orderings by single-point energy.
    """

    rank_by: str = "ewald"

    def settings(self) -> OrderingSettings:
        return OrderingSettings(
            **{f.name: getattr(self, _CONFIG_NAMES.get(f.name, f.name)) for f in _ORDERING_FIELDS}
        )


#: The `supercells` asset's config: OrderingSettings' fields, derived so that they never drift.
SupercellConfig = pydantic.create_model(
    "SupercellConfig",
    __base__=_RankedOrdering,
    __module__=__name__,
    __doc__=_RankedOrdering.__doc__,
    **{
        _CONFIG_NAMES.get(f.name, f.name): (_ORDERING_TYPES[f.name], f.default)
        for f in _ORDERING_FIELDS
    },
)


def _model_energy(method_name: str, device: str):
    """Single-point energy (eV) of a structure with the force model of an `mlip` method."""
    methods = load_methods()
    method = methods.get(method_name)
    if method is None or method.kind != "mlip":
        mlips = ", ".join(m for m, v in methods.items() if v.kind == "mlip")
        raise InputError(f"rank_by {method_name!r}: not an mlip method (known: {mlips})")
    spec = forcefields.ModelSpec.from_dict(method.settings["model"])
    model = forcefields.build_calculator(spec, device)

    def energy_eV(structure) -> float:
        atoms = structures.to_ase(structure)
        atoms.calc = model.calculator
        return float(atoms.get_potential_energy())

    return energy_eV


def supercell_row(material: str, min_width_A: float, cell: structures.Supercell) -> SupercellRow:
    """The supercells row of a cell: geometry, the ordering record and the ordered cell."""
    record = cell.ordering
    return SupercellRow(
        material_id=material,
        formula=cell.structure.composition.reduced_formula,
        min_width_A=min_width_A,
        replication=list(cell.replication),
        widths_A=list(cell.widths_A),
        n_atoms=cell.n_atoms,
        n_li=cell.n_li,
        volume_A3=cell.volume_A3,
        occupancy_fixes=[f.__dict__ for f in cell.fixes],
        ordering_strategy=record["strategy"],
        ordering_seed=record.get("seed"),
        target_composition=record["target_composition"],
        achieved_composition=record["achieved_composition"],
        charge_e=record["charge_e"],
        ordering_energy_eV=record.get("energy_eV"),
        ordering_energy_spread_eV_per_atom=record.get("spread_eV_per_atom"),
        ordering=record,
        supercell_cif=cell.structure.to(fmt="cif"),
    )


@dg.asset(
    partitions_def=material_partitions,
    deps=[obelix_subset],
    group_name="materials",
    kinds={"duckdb", "pymatgen"},
    owners=["team:materials"],
    check_specs=[
        dg.AssetCheckSpec(
            SANE_CHECK,
            asset="supercells",
            partitions_def=material_partitions,
            description="The ordered cell is what a scientist would accept: composition within "
            "1 at.% of the CIF's, neutral, no two atoms closer than half their covalent radii, "
            "density within 3 % of the CIF's.",
        )
    ],
    description="The simulation cell of each material: the smallest diagonal supercell with all "
    "perpendicular widths >= the protocol's min_cell_width_A, partially occupied sites ordered.",
)
def supercells(
    context: dg.AssetExecutionContext,
    config: SupercellConfig,
    simulation: SimulationResource,
    warehouse: WarehouseResource,
):
    material = context.partition_key
    with clear_failure():
        min_width_A = simulation.load_protocol().min_cell_width_A
        unit = obelix.read_structure(settings.OBELIX_DATA_DIR.value(), material)
        energy = None
        if config.rank_by != "ewald":
            energy = _model_energy(config.rank_by, simulation.device)
        cell = structures.simulation_cell(unit, material, min_width_A, config.settings(), energy)
    if cell.fixes:  # a structure fix matters to the science: one warning, shown by the CLI too
        kinds = dict.fromkeys(f"{f.species} {f.occupancy:g} {f.action}" for f in cell.fixes)
        context.log.warning(
            f"material {material}: {len(cell.fixes)} site occupancies changed ({', '.join(kinds)})"
        )
    checks = sanity_checks(cell.structure, cell.ordering, unit)
    row = supercell_row(material, min_width_A, cell)
    upsert(warehouse, row)
    record = cell.ordering
    yield dg.MaterializeResult(
        metadata={
            "n_atoms": cell.n_atoms,
            "n_li": cell.n_li,
            "volume_A3": cell.volume_A3,
            "replication": "x".join(map(str, cell.replication)),
            "min_perpendicular_width_A": min(cell.widths_A),
            "occupancies_rounded": len(cell.fixes),
            "occupancy_fixes": dg.MetadataValue.json([f.__dict__ for f in cell.fixes]),
            **scalars(row.as_row(), ["ordering_strategy", "ordering_seed", "charge_e"]),
            **scalars(row.as_row(), ["ordering_energy_eV", "ordering_energy_spread_eV_per_atom"]),
            "target_composition": dg.MetadataValue.json(record["target_composition"]),
            "achieved_composition": dg.MetadataValue.json(record["achieved_composition"]),
            "ordering": dg.MetadataValue.json(record),
        }
    )
    yield dg.AssetCheckResult(
        check_name=SANE_CHECK,
        passed=all(c["passed"] for c in checks.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={name: dg.MetadataValue.json(c) for name, c in checks.items()},
    )

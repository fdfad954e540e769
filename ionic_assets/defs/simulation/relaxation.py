"""<method>/relaxed_cells: the cell each method's MD starts from, one per material.

Between `supercells` and `<method>/md_trajectories` for every method that computes (mlip, dft),
partitioned by material only: one relaxation serves every temperature. The protocol's `relax`
block says what moves (`science.relax`, docs/relaxation.md); mode "none" (`paper`, `smoke`)
passes the supercell through unchanged and records that, so the graph is the same for every
protocol. An ML potential relaxes with its own force model, on the engine the MD's rule chooses
(`md.choice`); a DFT method with its engine only when it sets `relax_with_dft: true`. A run of a
batchable force model takes a range of materials (the MD's backfill policy,
`defs.scheduling.backfill_policy`) and relaxes all their cells in one `relax_cells` call: batched
with torch-sim when the rule says so, else one after another with ASE.

A relaxation that diverges fails its material in one line naming the material and the model
(nothing is stored for it; the run's other materials are, `failures.report_partitions`); its MD
is then skipped. Two checks flag what a relaxation did:
`relaxation_converged` (FIRE reached fmax within max_steps) and `relaxation_moderate` (volume
and Li positions stayed within the protocol's bounds of the experimental structure).
"""

import hashlib
import tempfile
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pymatgen.io.ase import AseAtomsAdaptor

from ionic_assets.defs import scheduling
from ionic_assets.defs.failures import clear_failure, report_partitions
from ionic_assets.defs.materials.assets import supercells
from ionic_assets.defs.materials.partitions import material_partitions
from ionic_assets.defs.resources import SimulationResource, WarehouseResource
from ionic_assets.defs.simulation.assets import dft_engine, relaxed_cells_key
from ionic_assets.lib.cells import stored_cell
from ionic_assets.lib.k8s import pod_tags, pool_of
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.provenance import package_versions
from ionic_assets.lib.records import RelaxedCellRow
from ionic_assets.science import forcefields, structures
from ionic_assets.science.errors import InputError
from ionic_assets.science.protocols import Protocol, Relax
from ionic_assets.science.relax import Relaxation, relax_cells

CONVERGED_CHECK = "relaxation_converged"
MODERATE_CHECK = "relaxation_moderate"
#: The kinds of method whose MD starts from a relaxed cell (an imported trajectory has its own).
RELAXING_KINDS = ("mlip", "dft")


def relax_materials(
    context, method: Method, simulation: SimulationResource, warehouse, materials: list[str]
) -> list:
    """Relax the cells of `materials` for `method` under the run's protocol: per material its
    (RelaxedCellRow, metadata), or the error that stopped it alone (a divergence, a refused
    input). An ML potential is built once and relaxes them all in one `relax_cells` call (batched
    with torch-sim when the MD's rule says so); a DFT engine one material at a time."""
    protocol = simulation.load_protocol()
    outcomes: dict = {}
    cells = {}
    for material in materials:
        try:
            cell = stored_cell(warehouse, material, protocol.min_cell_width_A)
            cells[material] = structures.to_ase(cell.structure)
        except InputError as exc:
            outcomes[material] = exc
    groups = [[m] for m in cells] if method.kind == "dft" else [list(cells)]
    for group in (g for g in groups if g):
        outcomes |= _relax_group(
            context, method, simulation, protocol, {m: cells[m] for m in group}
        )
    return [outcomes[m] for m in materials]


def _relax_group(context, method: Method, simulation, protocol: Protocol, cells: dict) -> dict:
    """{material: its (row, metadata) or error} for `cells` relaxed together by one model."""
    relax = method.relax(protocol.relax)
    engine = "ase" if method.kind == "dft" else simulation.md_engine()
    atoms = list(cells.values())
    with _model(method, simulation, atoms[0], relax) as model:
        choice, results = relax_cells(atoms, list(cells), model, relax,
                                      protocol.guards.min_interatomic_distance_A,
                                      engine=engine)  # fmt: skip
    if choice:
        context.log.info(f"relaxation engine: {choice.engine.value} ({choice.reason})")
    provenance = {
        "method": method.name,
        "model": model.identity if model else None,
        "engine_choice": choice.to_dict() if choice else None,
        "packages": package_versions(),
    }
    outcomes = {}
    for (material, cell), outcome in zip(cells.items(), results, strict=True):
        if not isinstance(outcome, Exception):
            _log(context, material, outcome)
            outcome = _stored(method, material, protocol, outcome, cell.get_volume(), provenance)
        outcomes[material] = outcome
    return outcomes


def _log(context, material: str, outcome: Relaxation) -> None:
    context.log.info(
        f"{material}: relaxation {outcome.mode}, {outcome.n_steps} steps, "
        f"converged {outcome.converged}, volume {outcome.change['volume_change_frac']:+.2%}, "
        f"engine {outcome.engine}, batch of {outcome.batch_size}"
    )


def _stored(method, material, protocol, outcome: Relaxation, volume0_A3, provenance) -> tuple:
    """The material's row and its materialization metadata beyond the row's columns."""
    record = _row(method, material, protocol, outcome, volume0_A3,
                  {**provenance, "settings": outcome.settings})  # fmt: skip
    metadata = {
        "lattice_change": dg.MetadataValue.json(record.lattice_change),
        "model": dg.MetadataValue.json(record.provenance["model"]),
        "settings": dg.MetadataValue.json(record.provenance["settings"]),
    }
    return record, metadata


@contextmanager
def _model(method: Method, simulation, atoms, relax: Relax):
    """The force model to relax with (None for mode "none": nothing is evaluated); a DFT
    engine's process and scratch files end with the block."""
    if not relax.relaxes:
        yield None
    elif method.kind == "dft":
        with (
            tempfile.TemporaryDirectory(prefix="relax-") as workdir,
            dft_engine(method, atoms, Path(workdir)) as model,
        ):
            yield model
    else:
        spec = forcefields.ModelSpec.from_dict(method.settings["model"])
        yield forcefields.build_calculator(spec, simulation.device)


def _row(method, material, protocol: Protocol, outcome: Relaxation, volume0_A3, provenance):
    structure = AseAtomsAdaptor.get_structure(outcome.atoms)
    cif = structure.to(fmt="cif")
    change = outcome.change
    return RelaxedCellRow(
        method=method.name,
        material_id=material,
        protocol=protocol.name,
        min_width_A=protocol.min_cell_width_A,
        mode=outcome.mode,
        converged=outcome.converged,
        n_steps=outcome.n_steps,
        n_atoms=len(outcome.atoms),
        energy_initial_eV=outcome.energy_initial_eV,
        energy_final_eV=outcome.energy_final_eV,
        energy_drop_eV_per_atom=outcome.energy_drop_eV_per_atom,
        max_force_eV_A=outcome.max_force_eV_A,
        max_displacement_A=change["max_displacement_A"],
        max_li_displacement_A=change["max_li_displacement_A"],
        volume_initial_A3=volume0_A3,
        volume_A3=outcome.atoms.get_volume(),
        volume_change_frac=change["volume_change_frac"],
        lattice_change=change["lattice_change"],
        engine=outcome.engine,
        batch_size=outcome.batch_size,
        wall_time_s=outcome.wall_time_s,
        provenance={**provenance, "relaxation": outcome.to_dict()},
        relaxed_cif=cif,
        checksum=hashlib.sha256(cif.encode()).hexdigest(),
    )


def _describe(row: dict, relax: Relax) -> tuple[dict, dict]:
    """A stored material's metadata and its two checks (`report_partitions`)."""
    metadata = {
        **scalars(row, ["mode", "converged", "n_steps", "engine", "batch_size", "wall_time_s"]),
        **scalars(row, ["energy_drop_eV_per_atom", "max_displacement_A"]),
        **scalars(row, ["max_li_displacement_A", "volume_change_frac", "checksum"]),
    }
    return metadata, {
        CONVERGED_CHECK: _converged(row, relax),
        MODERATE_CHECK: _moderate(row, relax),
    }


def _converged(row: dict, relax: Relax) -> dict:
    return dict(
        passed=bool(row["converged"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **scalars(row, ["mode", "n_steps", "max_force_eV_A"]),
            "fmax_eV_A": relax.fmax_eV_A,
            "max_steps": relax.max_steps,
        },
    )


def _moderate(row: dict, relax: Relax) -> dict:
    volume_ok = abs(row["volume_change_frac"]) <= relax.max_volume_change_frac
    li_ok = row["max_li_displacement_A"] <= relax.max_li_displacement_A
    return dict(
        passed=bool(volume_ok and li_ok),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **scalars(row, ["mode", "volume_change_frac", "max_li_displacement_A"]),
            "max_volume_change_frac": relax.max_volume_change_frac,
            "max_li_displacement_A_bound": relax.max_li_displacement_A,
        },
    )


def build_relaxed_cells(method: Method) -> dg.AssetsDefinition:
    key = relaxed_cells_key(method)

    @dg.asset(
        key=key,
        partitions_def=material_partitions,
        deps=[supercells],
        group_name=method.key,
        kinds={"duckdb", "ase"},
        owners=["team:simulation"],
        op_tags=pod_tags(method),
        pool=pool_of(method),
        backfill_policy=scheduling.backfill_policy(method),
        check_specs=[
            dg.AssetCheckSpec(
                CONVERGED_CHECK,
                asset=key,
                partitions_def=material_partitions,
                description="FIRE brought every force below the protocol's fmax_eV_A within "
                "max_steps (trivially passed when the protocol does not relax).",
            ),
            dg.AssetCheckSpec(
                MODERATE_CHECK,
                asset=key,
                partitions_def=material_partitions,
                description="The relaxed cell stays near the experimental one: |volume change| "
                "and the largest Li displacement within the protocol's relax bounds.",
            ),
        ],
        description=f"The cell {method.name}'s MD starts from: the supercell relaxed with its "
        "own force model as the protocol's relax block says, or passed through (mode none).",
    )
    def relaxed_cells(
        context: dg.AssetExecutionContext,
        simulation: SimulationResource,
        warehouse: WarehouseResource,
    ):
        materials = list(context.partition_keys)
        with clear_failure():
            outcomes = relax_materials(context, method, simulation, warehouse, materials)
            relax = method.relax(simulation.load_protocol().relax)
            yield from report_partitions(context, warehouse, key, [None] * len(materials),
                                         outcomes, lambda row: _describe(row, relax))  # fmt: skip

    return relaxed_cells


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[build_relaxed_cells(m) for m in load_methods().values() if m.kind in RELAXING_KINDS]
    )

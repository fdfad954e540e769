"""<method>/relaxed_cells: the cell each method's MD starts from, one per material.

Between `supercells` and `<method>/md_trajectories` for every method that computes (mlip, dft),
partitioned by material only: one relaxation serves every temperature. The protocol's `relax`
block says what moves (`science.relax`, docs/relaxation.md); mode "none" (`paper`, `smoke`)
passes the supercell through unchanged and records that, so the graph is the same for every
protocol. An ML potential relaxes with its own force model, on the engine the MD's rule chooses
(`md.choice`); a DFT method with its engine only when it sets `relax_with_dft: true`.

A relaxation that diverges fails the partition in one line naming the material and the model
(nothing is stored); its MD is then skipped. Two checks flag what a relaxation did:
`relaxation_converged` (FIRE reached fmax within max_steps) and `relaxation_moderate` (volume
and Li positions stayed within the protocol's bounds of the experimental structure).
"""

import hashlib
import tempfile
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pymatgen.io.ase import AseAtomsAdaptor

from ionic_assets.defs.failures import clear_failure
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
from ionic_assets.lib.warehouse import upsert
from ionic_assets.science import forcefields, structures
from ionic_assets.science.protocols import Protocol, Relax
from ionic_assets.science.relax import Relaxation, relax_cells

CONVERGED_CHECK = "relaxation_converged"
MODERATE_CHECK = "relaxation_moderate"
#: The kinds of method whose MD starts from a relaxed cell (an imported trajectory has its own).
RELAXING_KINDS = ("mlip", "dft")


def relax_material(
    context, method: Method, simulation: SimulationResource, warehouse, material: str
) -> RelaxedCellRow:
    """The relaxed_cells row of `material` for `method` under the run's protocol; a divergence
    or a refused input is raised (one line)."""
    protocol = simulation.load_protocol()
    relax = method.relax(protocol.relax)
    cell = stored_cell(warehouse, material, protocol.min_cell_width_A)
    atoms = structures.to_ase(cell.structure)
    min_distance_A = protocol.guards.min_interatomic_distance_A
    with _model(method, simulation, atoms, relax) as model:
        engine = "ase" if method.kind == "dft" else simulation.md_engine()
        choice, (outcome,) = relax_cells([atoms], [material], model, relax, min_distance_A,
                                         engine=engine)  # fmt: skip
    if isinstance(outcome, Exception):
        raise outcome
    context.log.info(
        f"{material}: relaxation {relax.mode}, {outcome.n_steps} steps, "
        f"converged {outcome.converged}, volume {outcome.change['volume_change_frac']:+.2%}"
    )
    provenance = {
        "method": method.name,
        "model": model.identity if model else None,
        "settings": outcome.settings,
        "engine_choice": choice.to_dict() if choice else None,
        "packages": package_versions(),
    }
    return _row(method, material, protocol, outcome, atoms.get_volume(), provenance)


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
        wall_time_s=outcome.wall_time_s,
        provenance={**provenance, "relaxation": outcome.to_dict()},
        relaxed_cif=cif,
        checksum=hashlib.sha256(cif.encode()).hexdigest(),
    )


def _checks(row: dict, relax: Relax) -> tuple[dg.AssetCheckResult, dg.AssetCheckResult]:
    converged = dg.AssetCheckResult(
        check_name=CONVERGED_CHECK,
        passed=bool(row["converged"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **scalars(row, ["mode", "n_steps", "max_force_eV_A"]),
            "fmax_eV_A": relax.fmax_eV_A,
            "max_steps": relax.max_steps,
        },
    )
    volume_ok = abs(row["volume_change_frac"]) <= relax.max_volume_change_frac
    li_ok = row["max_li_displacement_A"] <= relax.max_li_displacement_A
    moderate = dg.AssetCheckResult(
        check_name=MODERATE_CHECK,
        passed=bool(volume_ok and li_ok),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **scalars(row, ["mode", "volume_change_frac", "max_li_displacement_A"]),
            "max_volume_change_frac": relax.max_volume_change_frac,
            "max_li_displacement_A_bound": relax.max_li_displacement_A,
        },
    )
    return converged, moderate


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
        "own force model as the protocol's `relax` says, or passed through (mode none).",
    )
    def relaxed_cells(
        context: dg.AssetExecutionContext,
        simulation: SimulationResource,
        warehouse: WarehouseResource,
    ):
        material = context.partition_key
        with clear_failure():
            record = relax_material(context, method, simulation, warehouse, material)
            relax = method.relax(simulation.load_protocol().relax)
        upsert(warehouse, record)
        row = record.as_row()
        yield dg.MaterializeResult(
            metadata={
                **scalars(row, ["mode", "converged", "n_steps", "engine", "wall_time_s"]),
                **scalars(row, ["energy_drop_eV_per_atom", "max_displacement_A"]),
                **scalars(row, ["max_li_displacement_A", "volume_change_frac", "checksum"]),
                "lattice_change": dg.MetadataValue.json(record.lattice_change),
                "model": dg.MetadataValue.json(record.provenance["model"]),
                "settings": dg.MetadataValue.json(record.provenance["settings"]),
            }
        )
        yield from _checks(row, relax)

    return relaxed_cells


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[build_relaxed_cells(m) for m in load_methods().values() if m.kind in RELAXING_KINDS]
    )

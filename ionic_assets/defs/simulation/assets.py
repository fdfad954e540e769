"""<method>/md_trajectories: NVT molecular dynamics of each (material, temperature).

One asset per method in config/methods.yaml (a factory, so a new method needs no code). The step
builds the method's force model (`science.forcefields`), runs the protocol (`science.md.run_nvt`)
into an HDF5 trajectory under IONIC_ASSETS_HOME/trajectories, and records a row in the DuckDB
table `md_trajectories` with the model identity, protocol, seed and cost.
"""

import json
import os
import time

import dagster as dg
from dagster_duckdb import DuckDBResource
from pymatgen.core import Structure

from ionic_assets.defs.materials.assets import supercells
from ionic_assets.defs.materials.partitions import simulation_key, simulation_partitions
from ionic_assets.defs.resources import SimulationSettings
from ionic_assets.lib import settings
from ionic_assets.lib.failures import clear_failure
from ionic_assets.lib.k8s import pod_tags, pool_of
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.provenance import package_versions
from ionic_assets.lib.warehouse import read_rows, upsert
from ionic_assets.science import forcefields, md, protocols, structures
from ionic_assets.science.errors import InputError

MELTING_CHECK = "framework_not_melted"
#: Cost columns of the md_trajectories table, also shown as materialization metadata (Table 1).
COST_COLUMNS = (
    "device", "n_cpus", "wall_time_s", "steps_per_s", "atom_steps_per_s",
    "peak_host_memory_GiB", "peak_gpu_memory_GiB", "n_invocations",
)  # fmt: skip
#: Framework RMS displacement (Å) above which a run is flagged as possibly melted.
MELTING_RMSD_A = 1.5


def load_cell(warehouse: DuckDBResource, material: str, min_width_A: float):
    """The stored supercell, or one rebuilt from the stored unit cell for another width."""
    with warehouse.get_connection() as conn:
        rows = read_rows(conn, "supercells", "material_id = ?", [material])
    if rows.empty:
        raise InputError(f"material {material}: no supercell yet (materialize supercells first)")
    row = rows.iloc[0]
    if row["min_width_A"] == min_width_A:
        cell = Structure.from_str(row["supercell_cif"], fmt="cif")
        return structures.Supercell(cell, tuple(row["replication"]), tuple(row["widths_A"]))
    unit = Structure.from_str(row["unit_cell_cif"], fmt="cif")
    return structures.build_supercell(unit, min_width_A)


def trajectory_path(method: Method, protocol: str, material: str, temperature_K: float):
    return settings.trajectories_dir() / method.key / protocol / material / f"{temperature_K:g}K.h5"


def _progress_logger(context: dg.AssetExecutionContext):
    def log(p: md.MDProgress) -> None:
        eta = time.strftime("%H:%M:%S", time.gmtime(p.eta_s))
        context.log.info(
            f"step {p.step}/{p.n_steps}  {p.time_ps:.2f} ps  T = {p.temperature_K:.0f} K  "
            f"{p.steps_per_s:.1f} steps/s  ETA {eta}"
        )

    return log


def build_md_trajectories(method: Method) -> dg.AssetsDefinition:
    key = dg.AssetKey([method.key, "md_trajectories"])
    spec = forcefields.ModelSpec.from_dict(method.settings["model"])

    @dg.asset(
        key=key,
        partitions_def=simulation_partitions,
        deps=[supercells],
        group_name=method.key,
        kinds={"hdf5", "ase", spec.family},
        owners=["team:simulation"],
        op_tags=pod_tags(method),
        pool=pool_of(method),
        check_specs=[
            dg.AssetCheckSpec(
                MELTING_CHECK,
                asset=key,
                partitions_def=simulation_partitions,
                description="Framework (non-Li) atoms stay put: RMS displacement below "
                f"{MELTING_RMSD_A} Å (a melting indicator).",
            )
        ],
        description=f"NVT MD trajectories with {method.name}: {method.description}",
    )
    def md_trajectories(
        context: dg.AssetExecutionContext,
        simulation: SimulationSettings,
        warehouse: DuckDBResource,
    ):
        material, temperature_K = simulation_key(context)
        with clear_failure():
            protocol = protocols.load_protocol(simulation.protocol)
            cell = load_cell(warehouse, material, protocol.min_cell_width_A)
            atoms = structures.to_ase(cell.structure)
            model = forcefields.build_calculator(spec, simulation.device)
            forcefields.check_elements(model, atoms)
            path = trajectory_path(method, protocol.name, material, temperature_K)
            path.parent.mkdir(parents=True, exist_ok=True)
            provenance = {
                "method": method.name,
                "material_id": material,
                "model": model.identity,
                "protocol": protocol.name,
                "seed": simulation.seed,
                "replication": list(cell.replication),
                "packages": package_versions(),
            }
            result = md.run_nvt(
                atoms,
                model,
                protocol,
                temperature_K,
                simulation.seed,
                path,
                on_progress=_progress_logger(context),
                provenance=provenance,
            )
        row = {
            "method": method.name,
            "material_id": material,
            "temperature_K": temperature_K,
            "protocol": protocol.name,
            "trajectory_path": str(path),
            "n_frames": result.n_frames,
            "n_atoms": cell.n_atoms,
            "n_li": cell.n_li,
            "volume_A3": cell.volume_A3,
            "equilibration_ps": protocol.equilibration_ps,
            "diffusion_fit_start_ps": protocol.diffusion_fit_start_ps,
            "seed": simulation.seed,
            "device": result.device_name,
            "uses_gpu": result.device.startswith("cuda"),
            "n_cpus": len(os.sched_getaffinity(0)),
            "wall_time_s": result.wall_time_s,
            "steps_per_s": result.steps_per_s,
            "atom_steps_per_s": result.atom_steps_per_s,
            "peak_host_memory_GiB": result.peak_host_memory_MB / 1024,
            "peak_gpu_memory_GiB": (result.peak_gpu_memory_MB or 0.0) / 1024,
            "n_invocations": result.n_invocations,
            "framework_rmsd_A": result.framework_rmsd_A_max,
            "mean_temperature_K": result.mean_temperature_K,
            "provenance": json.dumps({**provenance, "md": result.to_dict()}),
        }
        upsert(warehouse, "md_trajectories", row)
        yield dg.MaterializeResult(
            metadata={
                "trajectory_path": dg.MetadataValue.path(str(path)),
                "n_frames": result.n_frames,
                "n_atoms": cell.n_atoms,
                "protocol": protocol.name,
                "seed": simulation.seed,
                "model": dg.MetadataValue.json(model.identity),
                "thermostat": dg.MetadataValue.json(
                    {"class": result.thermostat, **result.thermostat_params}
                ),
                **scalars(row, [*COST_COLUMNS, "mean_temperature_K"]),
            }
        )
        rmsd = result.framework_rmsd_A_max
        yield dg.AssetCheckResult(
            check_name=MELTING_CHECK,
            passed=rmsd is None or rmsd < MELTING_RMSD_A,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "framework_rmsd_max_A": rmsd if rmsd is not None else float("nan"),
                "threshold_A": MELTING_RMSD_A,
            },
        )

    return md_trajectories


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_md_trajectories(m) for m in load_methods().values()])

"""<method>/md_trajectories: the MD trajectory of each (material, temperature).

One asset per method in config/methods.yaml (a factory, so a new method needs no code). By kind:

    mlip      builds the force model (`science.forcefields`) once per run and runs the
              protocol on the stored supercells of all the run's partitions with the engine
              `science.md.choice` chooses (torch-sim batched, or the ASE runner one by one);
              a run with several partitions batches them all (with replicas, each
              partition's replicas run one after another, as DFT)
    dft       the same NVT runner driving a DFT engine (`science.dft.load_dft_method`), with a
              checkpoint every step (`cadence` in methods.yaml) and the engine's restart files
              in `<T>K.dft/` beside the trajectory
    imported  validates the registered file and copies it into the platform's format
              (`science.trajectory_import.import_trajectory`); nothing is computed

The HDF5 trajectory goes under `trajectories/` on the artifact store (`lib/storage.py`:
IONIC_ASSETS_HOME locally, a shared volume or object storage in a cluster) and a row with its URL,
the model identity, protocol, seed and cost goes into the DuckDB table `md_trajectories`. A run
works on `ArtifactStore.simulation_files`: on object storage its trajectory, checkpoints and DFT
restart files are uploaded after every checkpoint and when it ends, and downloaded before it
starts, so a killed pod's partition resumes from its last checkpoint in the next pod.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import dagster as dg

from ionic_assets.defs import scheduling
from ionic_assets.defs.failures import clear_failure, report_partitions
from ionic_assets.defs.materials.assets import supercells
from ionic_assets.defs.materials.partitions import simulation_keys, simulation_partitions
from ionic_assets.defs.preemption import sigterm_retries
from ionic_assets.defs.resources import SimulationResource, WarehouseResource
from ionic_assets.lib import settings
from ionic_assets.lib.cells import relaxed_cell, stored_cell
from ionic_assets.lib.k8s import pod_tags, pool_of
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import IMPORTED_PROTOCOL, Method, dft_installation, load_methods
from ionic_assets.lib.provenance import package_versions
from ionic_assets.lib.records import MDTrajectoryRow
from ionic_assets.lib.storage import SimulationFiles
from ionic_assets.science import forcefields, protocols, structures
from ionic_assets.science.dft import load_dft_method
from ionic_assets.science.dft.sizing import available_cpus
from ionic_assets.science.errors import InputError
from ionic_assets.science.md.dispatch import run_one, run_systems
from ionic_assets.science.md.engine import Engine
from ionic_assets.science.md.result import Outcome
from ionic_assets.science.md.systems import System
from ionic_assets.science.md.torchsim_thermostat import integrator_settings
from ionic_assets.science.trajectory_import import import_trajectory

MELTING_CHECK = "framework_not_melted"
#: Cost columns of the md_trajectories table, also shown as materialization metadata (Table 1).
COST_COLUMNS = (
    "device", "n_cpus", "wall_time_s", "cpu_hours", "steps_per_s", "atom_steps_per_s",
    "peak_host_memory_GiB", "peak_gpu_memory_GiB", "n_invocations",
)  # fmt: skip
#: Framework RMS displacement (Å) above which a run is flagged as possibly melted.
MELTING_RMSD_A = 1.5
KIND_LABELS = {"mlip": "NVT MD", "dft": "Ab initio NVT MD", "imported": "Imported MD"}


def trajectory_relpath(
    method: Method, protocol: str, material_id: str, temperature_K: float, variant: str = ""
) -> str:
    """Where a trajectory goes, relative to the artifact store's base; `variant` (e.g. `r1` for
    replica 1, `w15` for a 15 Å cell) goes before the extension, so variants sit beside it."""
    suffix = f".{variant}" if variant else ""
    return f"trajectories/{method.key}/{protocol}/{material_id}/{temperature_K:g}K{suffix}.h5"


def n_replicas(method: Method, protocol: protocols.Protocol) -> int:
    """Seed replicas per partition: the method's `replicas` setting, else the protocol's."""
    n = method.settings.get("replicas", protocol.replicas)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"method {method.name}: replicas must be a whole number >= 1, not {n!r}")
    return n


@contextmanager
def dft_engine(method: Method, atoms, workdir) -> Iterator[forcefields.LoadedModel]:
    """The DFT method's calculator for `atoms`; its engine's process is ended afterwards."""
    model = load_dft_method(
        method.engine,
        atoms,
        workdir,
        dft_installation(),
        available_cpus(),
        method.settings.get("settings"),
    )
    try:
        yield model
    finally:
        if hasattr(model.calculator, "close"):  # CP2K's shell process; VASP runs per step
            model.calculator.close()


@dataclass
class _Job:
    """One trajectory to run: a replica of a partition, with its stored files."""

    key: tuple[str, float]
    cell: structures.Supercell
    url: str
    files: SimulationFiles
    system: System


def simulate(
    context: dg.AssetExecutionContext,
    method: Method,
    simulation: SimulationResource,
    warehouse: WarehouseResource,
    keys: list[tuple[str, float]],
    width_A: float | None = None,
) -> list:
    """Run (or resume) the method's MD of the partitions `keys` (material, kelvin) in this
    process: one (row, metadata), or the science error that stopped it alone, per key.

    Every seed replica of every partition is one trajectory. An ML potential is loaded once
    and runs them all with the engine `science.md.choice` chooses (torch-sim batched, or the ASE
    runner one after another); a DFT engine runs them one after another. A trajectory resumes
    on its own from its last checkpoint; a finished one is read back. `width_A`: a minimum cell
    width other than the protocol's (the size check)."""
    protocol = protocols.with_cadence(
        simulation.load_protocol(), method.settings.get("cadence", {})
    )
    min_width_A = protocol.min_cell_width_A if width_A is None else width_A
    outcomes: dict[tuple[str, float], object] = {}
    with ExitStack() as open_files:
        jobs = []
        for key in keys:
            try:
                jobs += _jobs(method, simulation, warehouse, protocol, key, width_A, open_files)
            except InputError as exc:
                outcomes[key] = exc
        results, extra = _run(context, method, simulation, protocol, jobs)
    by_key: dict = {}
    for job, result in zip(jobs, results, strict=True):
        by_key.setdefault(job.key, []).append((job, result))
    for key, runs in by_key.items():
        failed = [r for _, r in runs if isinstance(r, Exception)]
        outcomes[key] = failed[0] if failed else _finished(
            method, simulation, protocol, runs, min_width_A, extra
        )  # fmt: skip
    return [outcomes[key] for key in keys]


def _run(context, method: Method, simulation, protocol, jobs: list[_Job]) -> tuple[list, dict]:
    """Each job's MDResult or error, and what to record of how they ran (the engine choice)."""
    if not jobs:
        return [], {}
    if method.kind == "dft":
        return [_run_dft(context, method, protocol, job) for job in jobs], {}
    model = forcefields.build_calculator(
        forcefields.ModelSpec.from_dict(method.settings["model"]), simulation.device
    )
    for job in jobs:
        job.system.provenance["model"] = model.identity
    choice, results = run_systems(
        [job.system for job in jobs], model, protocol, engine=simulation.md_engine(),
        log=context.log.info,
    )  # fmt: skip
    return results, {"engine_choice": choice.to_dict()}


def _jobs(method, simulation, warehouse, protocol, key, width_A, open_files) -> list[_Job]:
    """The partition's trajectories (one per seed replica), their files opened in `open_files`."""
    material, T = key
    cell, relaxation = start_cell(method, warehouse, protocol, material, width_A)
    store = warehouse.artifacts()
    jobs = []
    for replica in range(n_replicas(method, protocol)):
        parts = (f"r{replica}" if replica else "", "" if width_A is None else f"w{width_A:g}")
        rel = trajectory_relpath(
            method, protocol.name, material, T, ".".join(p for p in parts if p)
        )
        files = open_files.enter_context(store.simulation_files(rel))
        seed = simulation.seed + replica
        provenance = {
            "method": method.name,
            "material_id": material,
            "protocol": protocol.name,
            "seed": seed,
            "replication": list(cell.replication),
            "relaxation": relaxation,
            "packages": package_versions(),
        }
        label = f"{material} {T:g} K" + (f" r{replica}" if replica else "")
        system = System(
            structures.to_ase(cell.structure), T, seed, files.path, provenance, files.sync, label
        )
        jobs.append(_Job(key, cell, store.url(rel), files, system))
    return jobs


def start_cell(method: Method, warehouse, protocol, material: str, width_A: float | None):
    """The cell the partition's MD starts from and what names its relaxation: the method's
    relaxed cell (`<method>/relaxed_cells`) when the protocol relaxes, else the stored supercell
    (`{"mode": "none"}`). `width_A`: a cell of another width (the size check), unrelaxed."""
    if not method.relax(protocol.relax).relaxes:
        min_width_A = protocol.min_cell_width_A if width_A is None else width_A
        return stored_cell(warehouse, material, min_width_A), {"mode": "none"}
    if width_A is not None:
        raise InputError(
            f"material {material}: a size check of the relaxing protocol {protocol.name} is not "
            "supported (only the protocol's own cell is relaxed); use its unrelaxed twin"
        )
    return relaxed_cell(warehouse, method.name, material, protocol.name, protocol.min_cell_width_A)


def _run_dft(context, method: Method, protocol, job: _Job) -> Outcome:
    """One DFT trajectory; its engine (a CP2K process) ends before its files are stored."""
    system = job.system
    try:
        with dft_engine(method, system.atoms, job.files.workdir) as model:
            system.provenance["model"] = model.identity
            return run_one(system, model, protocol, context.log.info)
    except (InputError, OSError) as exc:
        return exc


def _finished(method, simulation, protocol, runs, min_width_A, extra) -> tuple:
    """A partition's md_trajectories row and metadata from its finished replicas."""
    first_job, result = runs[0]
    results = [r for _, r in runs]
    cell = first_job.cell
    n_cpus = available_cpus()
    wall_time_s = sum(r.wall_time_s for r in results)
    rmsd = [r.framework_rmsd_A_max for r in results if r.framework_rmsd_A_max is not None]
    replicas = [
        {"seed": job.system.seed, "trajectory_path": job.url, "md": r.to_dict()} for job, r in runs
    ]
    provenance = {**first_job.system.provenance, **extra}
    if result.engine is Engine.TORCH_SIM:
        provenance["integrator"] = integrator_settings(protocol)
    row = MDTrajectoryRow(
        method=method.name,
        material_id=first_job.key[0],
        temperature_K=first_job.key[1],
        protocol=protocol.name,
        trajectory_path=first_job.url,
        n_frames=result.n_frames,
        n_atoms=cell.n_atoms,
        n_li=cell.n_li,
        volume_A3=cell.volume_A3,
        equilibration_ps=protocol.equilibration_ps,
        diffusion_fit_start_ps=protocol.diffusion_fit_start_ps,
        seed=simulation.seed,
        device=result.device_name,
        uses_gpu=result.device.startswith("cuda"),
        n_cpus=n_cpus,
        wall_time_s=wall_time_s,
        cpu_hours=wall_time_s * n_cpus / 3600,
        steps_per_s=result.steps_per_s,
        atom_steps_per_s=result.atom_steps_per_s,
        peak_host_memory_GiB=max(r.peak_host_memory_MB for r in results) / 1024,
        peak_gpu_memory_GiB=max(r.peak_gpu_memory_MB or 0.0 for r in results) / 1024,
        n_invocations=sum(r.n_invocations for r in results),
        framework_rmsd_A=max(rmsd, default=None),
        mean_temperature_K=result.mean_temperature_K,
        engine=result.engine.value,
        stop_reason=result.stop_reason,
        simulated_ps=result.simulated_ps,
        provenance={
            **provenance,
            "md": {**result.to_dict(), "trajectory_path": first_job.url},
            "replicas": replicas,
        },  # fmt: skip
        n_replicas=len(runs),
        replica_paths=[job.url for job, _ in runs],
        replica_seeds=[job.system.seed for job, _ in runs],
        min_width_A=min_width_A,
    )
    metadata = {
        "model": dg.MetadataValue.json(provenance["model"]),
        "thermostat": dg.MetadataValue.json(
            {"class": result.thermostat, **result.thermostat_params}
        ),
        **{name: dg.MetadataValue.json(value) for name, value in extra.items()},
    }
    return row, metadata


def import_registered(
    context: dg.AssetExecutionContext,
    method: Method,
    simulation: SimulationResource,
    warehouse: WarehouseResource,
    material_id: str,
    temperature_K: float,
) -> tuple[MDTrajectoryRow, dict]:
    """Validate and copy the partition's registered trajectory: its row and metadata."""
    entry = method.imported(material_id, temperature_K)
    protocol = simulation.load_protocol()  # for its analysis windows only
    unit = stored_cell(warehouse, material_id, None).structure  # its proportions
    store = warehouse.artifacts()
    rel = trajectory_relpath(method, IMPORTED_PROTOCOL, material_id, temperature_K)
    provenance = {
        "method": method.name,
        "material_id": material_id,
        "model": {"family": "imported", "source": str(entry.path), "format": entry.format},
        "protocol": IMPORTED_PROTOCOL,
        "packages": package_versions(),
    }
    with store.local_copy(rel, "w") as path:  # published whole once valid
        trajectory = import_trajectory(
            entry.path,
            path,
            temperature_K=temperature_K,
            expected_numbers=[site.specie.Z for site in unit],
            provenance=provenance,
            fmt=entry.format,
            timestep_fs=entry.timestep_fs,
            frame_stride=entry.frame_stride,
        )
    metadata = {
        "model": dg.MetadataValue.json(provenance["model"]),
        "source": dg.MetadataValue.path(str(entry.path)),
    }
    wall_time_s, n_cpus = entry.wall_time_s, entry.n_cpus
    row = MDTrajectoryRow(
        method=method.name,
        material_id=material_id,
        temperature_K=temperature_K,
        protocol=IMPORTED_PROTOCOL,
        trajectory_path=store.url(rel),
        n_frames=trajectory.n_frames,
        n_atoms=trajectory.n_atoms,
        n_li=trajectory.n_li,
        volume_A3=trajectory.volume_A3,
        equilibration_ps=(
            protocol.equilibration_ps if entry.equilibration_ps is None else entry.equilibration_ps
        ),
        diffusion_fit_start_ps=protocol.diffusion_fit_start_ps,
        device="imported",
        uses_gpu=bool(entry.n_gpus),
        n_cpus=n_cpus,
        wall_time_s=wall_time_s,
        cpu_hours=wall_time_s * n_cpus / 3600 if wall_time_s and n_cpus else None,
        n_invocations=1,
        framework_rmsd_A=trajectory.framework_rmsd_max_A(),
        provenance=trajectory.metadata,
    )
    return row, metadata


def relaxed_cells_key(method: Method) -> dg.AssetKey:
    """The asset of the cells `method`'s MD starts from (`relaxation.build_relaxed_cells`)."""
    return dg.AssetKey([method.key, "relaxed_cells"])


def build_md_trajectories(method: Method) -> dg.AssetsDefinition:
    key = dg.AssetKey([method.key, "md_trajectories"])

    upstream = supercells if method.kind == "imported" else relaxed_cells_key(method)

    @dg.asset(
        key=key,
        partitions_def=simulation_partitions,
        deps=[upstream],
        group_name=method.key,
        kinds={"hdf5", "ase", method.engine},
        owners=["team:simulation"],
        op_tags=pod_tags(method),
        pool=pool_of(method),
        backfill_policy=scheduling.backfill_policy(method),
        retry_policy=_retry_policy(),
        check_specs=[
            dg.AssetCheckSpec(
                MELTING_CHECK,
                asset=key,
                partitions_def=simulation_partitions,
                description="Framework (non-Li) atoms stay put: RMS displacement below "
                f"{MELTING_RMSD_A} Å (a melting indicator).",
            )
        ],
        description=f"{KIND_LABELS[method.kind]} trajectories, {method.name}: {method.description}",
    )
    def md_trajectories(
        context: dg.AssetExecutionContext,
        simulation: SimulationResource,
        warehouse: WarehouseResource,
    ):
        keys = simulation_keys(context)
        with clear_failure():
            if method.kind == "imported":
                outcomes = [_imported(context, method, simulation, warehouse, k) for k in keys]
            else:
                with sigterm_retries():
                    outcomes = simulate(context, method, simulation, warehouse, keys)
            labels = [f"{material} {T:g} K" for material, T in keys]
            yield from report_partitions(context, warehouse, key, labels, outcomes, _describe)

    return md_trajectories


def _retry_policy() -> dg.RetryPolicy:
    """A step whose process or pod is lost mid-MD (a preempted GPU node, a deleted pod, a
    SIGKILL; a pod's SIGTERM, `defs/preemption.py`) runs again in the same run and resumes from
    the trajectory's last checkpoint.
    Op retries, not run retries: only the lost step runs again, with no daemon needed, under
    the local multiprocess executor (a crashed step process) and the k8s executor (a failed
    step Job, found by its health check) alike. User errors (`clear_failure`) are not retried."""
    return dg.RetryPolicy(
        max_retries=settings.STEP_RETRIES.value(),
        delay=settings.STEP_RETRY_DELAY.value(),
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def _imported(context, method, simulation, warehouse, key):
    """One partition's (row, metadata), or the science error that stopped it alone."""
    try:
        return import_registered(context, method, simulation, warehouse, *key)
    except (InputError, OSError) as exc:
        return exc


def _describe(row: dict) -> tuple[dict, dict]:
    """A stored partition's materialization metadata and melting check (`report_partitions`)."""
    return _materialization_metadata(row), {MELTING_CHECK: _melting_check(row)}


def _materialization_metadata(row: dict) -> dict:
    return {
        "trajectory_path": dg.MetadataValue.path(row["trajectory_path"]),
        **scalars(row, ["n_frames", "n_atoms", "protocol", "seed", *COST_COLUMNS]),
        **scalars(row, ["mean_temperature_K", "engine", "stop_reason", "simulated_ps"]),
    }


def _melting_check(row: dict) -> dict:
    rmsd = row.get("framework_rmsd_A")
    return {
        "passed": rmsd is None or rmsd < MELTING_RMSD_A,
        "severity": dg.AssetCheckSeverity.WARN,
        "metadata": {
            "framework_rmsd_max_A": rmsd if rmsd is not None else float("nan"),
            "threshold_A": MELTING_RMSD_A,
        },
    }


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_md_trajectories(m) for m in load_methods().values()])

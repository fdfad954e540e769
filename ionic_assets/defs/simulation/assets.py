"""<method>/md_trajectories: the MD trajectory of each (material, temperature).

One asset per method in config/methods.yaml (a factory, so a new method needs no code). By kind:

    mlip      builds the force model (`science.forcefields`) once per run and runs the
              protocol on the stored supercells of all the run's partitions with the engine
              `science.batched` chooses (torch-sim batched, or the ASE runner one by one);
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

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import dagster as dg

from ionic_assets.defs.materials.assets import supercells
from ionic_assets.defs.materials.partitions import simulation_partitions, temperature_K
from ionic_assets.defs.resources import SimulationSettings
from ionic_assets.lib.cells import stored_cell
from ionic_assets.lib.failures import clear_failure
from ionic_assets.lib.k8s import pod_tags, pool_of
from ionic_assets.lib.metadata import scalars
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.provenance import package_versions
from ionic_assets.lib.records import MDTrajectoryRow
from ionic_assets.lib.warehouse import Warehouse, upsert
from ionic_assets.science import forcefields, md, protocols, structures
from ionic_assets.science.batched.dispatch import run_systems
from ionic_assets.science.batched.systems import System
from ionic_assets.science.batched.thermostat import integrator_settings
from ionic_assets.science.dft import load_dft_method
from ionic_assets.science.dft.sizing import available_cpus
from ionic_assets.science.errors import InputError
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


def _progress_logger(context: dg.AssetExecutionContext):
    def log(p: md.MDProgress) -> None:
        eta = time.strftime("%H:%M:%S", time.gmtime(p.eta_s))
        context.log.info(
            f"step {p.step}/{p.n_steps}  {p.time_ps:.2f} ps  T = {p.temperature_K:.0f} K  "
            f"{p.steps_per_s:.1f} steps/s  ETA {eta}"
        )

    return log


@contextmanager
def force_model(method: Method, atoms, workdir, device: str) -> Iterator[forcefields.LoadedModel]:
    """The method's calculator for `atoms`; a DFT engine's process is ended afterwards."""
    if method.kind == "mlip":
        model = forcefields.build_calculator(
            forcefields.ModelSpec.from_dict(method.settings["model"]), device
        )
        forcefields.check_elements(model, atoms)
        yield model
        return
    model = load_dft_method(
        method.engine, atoms, workdir, available_cpus(), method.settings.get("settings")
    )
    try:
        yield model
    finally:
        if hasattr(model.calculator, "close"):  # CP2K's shell process; VASP runs per step
            model.calculator.close()


def simulate(
    context: dg.AssetExecutionContext,
    method: Method,
    simulation: SimulationSettings,
    warehouse: Warehouse,
    material_id: str,
    temperature_K: float,
    width_A: float | None = None,
) -> tuple[MDTrajectoryRow, dict]:
    """Run (or resume) the method's MD of one partition, every seed replica one after another
    (each resumes on its own; a finished one is read back): its md_trajectories row and
    metadata. `width_A`: a minimum cell width other than the protocol's (the size check)."""
    protocol = protocols.with_cadence(
        simulation.load_protocol(), method.settings.get("cadence", {})
    )
    min_width_A = protocol.min_cell_width_A if width_A is None else width_A
    cell = stored_cell(warehouse, material_id, min_width_A)
    store = warehouse.artifacts()
    runs = []
    for replica in range(n_replicas(method, protocol)):
        parts = (f"r{replica}" if replica else "", "" if width_A is None else f"w{width_A:g}")
        rel = trajectory_relpath(
            method, protocol.name, material_id, temperature_K, ".".join(p for p in parts if p)
        )
        seed = simulation.seed + replica
        run = _run_replica(
            context, method, simulation, store, cell, protocol, material_id, temperature_K,
            rel, seed,
        )  # fmt: skip
        runs.append((store.url(rel), seed, *run))
    url, _, result, model, provenance = runs[0]
    results = [r for _, _, r, _, _ in runs]
    metadata = {
        "model": dg.MetadataValue.json(model.identity),
        "thermostat": dg.MetadataValue.json(
            {"class": result.thermostat, **result.thermostat_params}
        ),
    }
    n_cpus = available_cpus()
    wall_time_s = sum(r.wall_time_s for r in results)
    rmsd = [r.framework_rmsd_A_max for r in results if r.framework_rmsd_A_max is not None]
    row = MDTrajectoryRow(
        method=method.name,
        material_id=material_id,
        temperature_K=temperature_K,
        protocol=protocol.name,
        trajectory_path=url,
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
        engine=result.engine,
        stop_reason=result.stop_reason,
        simulated_ps=result.simulated_ps,
        provenance={
            **provenance,
            "md": {**result.to_dict(), "trajectory_path": url},
            "replicas": [
                {"seed": s, "trajectory_path": u, "md": r.to_dict()} for u, s, r, _, _ in runs
            ],
        },
        n_replicas=len(runs),
        replica_paths=[u for u, *_ in runs],
        replica_seeds=[s for _, s, *_ in runs],
        min_width_A=min_width_A,
    )
    return row, metadata


def _run_replica(
    context, method, simulation, store, cell, protocol, material_id, temperature_K, rel, seed
):
    """One trajectory of the partition: (MD result, loaded model, provenance)."""
    atoms = structures.to_ase(cell.structure)
    # The engine (a CP2K process) ends before the files are stored for the last time.
    with (
        store.simulation_files(rel) as files,
        force_model(method, atoms, files.workdir, simulation.device) as model,
    ):
        provenance = {
            "method": method.name,
            "material_id": material_id,
            "model": model.identity,
            "protocol": protocol.name,
            "seed": seed,
            "replication": list(cell.replication),
            "packages": package_versions(),
        }
        result = md.run_nvt(
            atoms,
            model,
            protocol,
            temperature_K,
            seed,
            files.path,
            on_progress=_progress_logger(context),
            provenance=provenance,
            on_checkpoint=files.sync,
        )
    return result, model, provenance


def _thermostat_metadata(result: md.MDResult) -> dict:
    return {
        "thermostat": dg.MetadataValue.json(
            {"class": result.thermostat, **result.thermostat_params}
        )
    }


def _md_row(
    method, material_id, temperature_K, protocol, cell, simulation, result: md.MDResult, url,
    provenance,
) -> MDTrajectoryRow:  # fmt: skip
    """The md_trajectories row of a finished run."""
    n_cpus = available_cpus()
    return MDTrajectoryRow(
        method=method.name,
        material_id=material_id,
        temperature_K=temperature_K,
        protocol=protocol.name,
        trajectory_path=url,
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
        wall_time_s=result.wall_time_s,
        cpu_hours=result.wall_time_s * n_cpus / 3600,
        steps_per_s=result.steps_per_s,
        atom_steps_per_s=result.atom_steps_per_s,
        peak_host_memory_GiB=result.peak_host_memory_MB / 1024,
        peak_gpu_memory_GiB=(result.peak_gpu_memory_MB or 0.0) / 1024,
        n_invocations=result.n_invocations,
        framework_rmsd_A=result.framework_rmsd_A_max,
        mean_temperature_K=result.mean_temperature_K,
        engine=result.engine,
        stop_reason=result.stop_reason,
        simulated_ps=result.simulated_ps,
        provenance={**provenance, "md": {**result.to_dict(), "trajectory_path": url}},
        n_replicas=1,
        replica_paths=[url],
        replica_seeds=[simulation.seed],
        min_width_A=protocol.min_cell_width_A,
    )


def simulate_batch(context, method: Method, simulation: SimulationSettings, warehouse, keys):
    """Run (or resume) the MLIP's MD of several partitions in one process, with the engine
    `science.batched` chooses: one (row, metadata) or exception per (material, T) of `keys`."""
    protocol = protocols.with_cadence(
        simulation.load_protocol(), method.settings.get("cadence", {})
    )
    store = warehouse.artifacts()
    spec = forcefields.ModelSpec.from_dict(method.settings["model"])
    model = forcefields.build_calculator(spec, simulation.device)
    outcomes: dict[tuple[str, float], object] = {}
    jobs = []
    with ExitStack() as files_of_run:
        for material, T in keys:
            try:
                cell = stored_cell(warehouse, material, protocol.min_cell_width_A)
            except InputError as exc:
                outcomes[material, T] = exc
                continue
            rel = trajectory_relpath(method, protocol.name, material, T)
            files = files_of_run.enter_context(store.simulation_files(rel))
            provenance = {
                "method": method.name,
                "material_id": material,
                "model": model.identity,
                "protocol": protocol.name,
                "seed": simulation.seed,
                "replication": list(cell.replication),
                "packages": package_versions(),
            }
            system = System(
                structures.to_ase(cell.structure), T, simulation.seed, files.path,
                provenance, files.sync, f"{material} {T:g} K",
            )  # fmt: skip
            jobs.append(((material, T), cell, rel, system))
        choice, results = run_systems(
            [job[3] for job in jobs], model, protocol, engine=simulation.md_engine(),
            log=context.log.info,
        )  # fmt: skip
    for (key, cell, rel, system), result in zip(jobs, results, strict=True):
        if isinstance(result, Exception):
            outcomes[key] = result
            continue
        provenance = {**system.provenance, "engine_choice": choice.to_dict()}
        if result.engine == "torch-sim":
            provenance["integrator"] = integrator_settings(protocol)
        row = _md_row(method, *key, protocol, cell, simulation, result, store.url(rel), provenance)
        outcomes[key] = (row, {
            "model": dg.MetadataValue.json(model.identity),
            "engine_choice": dg.MetadataValue.json(choice.to_dict()),
            **_thermostat_metadata(result),
        })  # fmt: skip
    return [outcomes[key] for key in keys]


def import_registered(
    context: dg.AssetExecutionContext,
    method: Method,
    simulation: SimulationSettings,
    warehouse: Warehouse,
    material_id: str,
    temperature_K: float,
) -> tuple[MDTrajectoryRow, dict]:
    """Validate and copy the partition's registered trajectory: its row and metadata."""
    entry = method.imported(material_id, temperature_K)
    protocol = simulation.load_protocol()  # for its analysis windows only
    unit = stored_cell(warehouse, material_id, None).structure  # its proportions
    store = warehouse.artifacts()
    rel = trajectory_relpath(method, "imported", material_id, temperature_K)
    provenance = {
        "method": method.name,
        "material_id": material_id,
        "model": {"family": "imported", "source": str(entry.path), "format": entry.format},
        "protocol": "imported",
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
        protocol="imported",
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


def build_md_trajectories(method: Method) -> dg.AssetsDefinition:
    key = dg.AssetKey([method.key, "md_trajectories"])
    produce = import_registered if method.kind == "imported" else simulate
    batched = method.kind == "mlip"

    @dg.asset(
        key=key,
        partitions_def=simulation_partitions,
        deps=[supercells],
        group_name=method.key,
        kinds={"hdf5", "ase", method.engine},
        owners=["team:simulation"],
        op_tags=pod_tags(method),
        pool=pool_of(method),
        # One run materializes many partitions for a batchable force model; DFT and imported
        # trajectories keep one partition per run (a pod sized for one DFT system).
        # Not yet: a run of two SevenNet partitions did not finish in 20 min in the test (issue
        # 15, test_batched_md.py); until that is found, a backfill keeps one partition per run.
        backfill_policy=None,
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
        simulation: SimulationSettings,
        warehouse: Warehouse,
    ):
        keys = [_simulation_key(partition) for partition in context.partition_keys]
        with clear_failure():
            if batched and n_replicas(method, simulation.load_protocol()) == 1:
                outcomes = simulate_batch(context, method, simulation, warehouse, keys)
            else:  # DFT, imported (one partition per run), replicas one after another
                outcomes = [_one(produce, context, method, simulation, warehouse, *key)
                            for key in keys]  # fmt: skip
        yield from _report(context, warehouse, key, keys, outcomes)

    return md_trajectories


def _one(produce, context, method, simulation, warehouse, material, T):
    """One partition's (row, metadata), or the science error that stopped it alone."""
    try:
        return produce(context, method, simulation, warehouse, material, T)
    except (InputError, OSError) as exc:
        return exc


def _simulation_key(partition: str) -> tuple[str, float]:
    keys = simulation_partitions.get_partition_key_from_str(partition).keys_by_dimension
    return keys["material"], temperature_K(keys["temperature_K"])


def _report(context, warehouse, key, keys, outcomes):
    """Store the rows of the partitions that succeeded, with their metadata and melting check;
    then fail in one line per partition that did not.

    One partition: the MaterializeResult and AssetCheckResult of any asset. Several: when all
    succeed, per-partition metadata on the run's materializations and a check evaluation per
    partition; when some fail, a materialization and check evaluation for each one that
    succeeded (the others stay unmaterialized) before the step fails.
    """
    partitions = list(context.partition_keys)
    done, failed = [], []
    for partition, (material, T), outcome in zip(partitions, keys, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failed.append(f"{material} {T:g} K: {outcome}")
            continue
        record, metadata = outcome
        upsert(warehouse, record)
        row = record.as_row()
        done.append((partition, row, {**_materialization_metadata(row), **metadata}))
    if len(partitions) == 1 and done:
        _, row, metadata = done[0]
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(check_name=MELTING_CHECK, **_melting_check(row))
        return
    for partition, _, metadata in done:
        if failed:
            context.log_event(dg.AssetMaterialization(key, partition=partition, metadata=metadata))
        else:
            context.add_asset_metadata(metadata, partition_key=partition)
    if not failed:
        yield dg.MaterializeResult()
    for partition, row, _ in done:
        context.log_event(
            dg.AssetCheckEvaluation(key, MELTING_CHECK, partition=partition, **_melting_check(row))
        )
    # The check's step output (AssetCheckResult cannot name a partition in Dagster 1.13; the
    # evaluations above do).
    check_key = dg.AssetCheckKey(key, MELTING_CHECK)
    yield dg.Output(
        None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
    )
    if len(partitions) == 1 and failed:
        raise dg.Failure(description=str(outcomes[0]), allow_retries=False)
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(partitions)} partitions failed: "
            + "; ".join(failed),
            allow_retries=False,
        )


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

"""A preempted MD step is retried and resumes from its checkpoint, for real: CHGNet on gvd
(Li3N) with the smoke protocol under Dagster's multiprocess executor (each step its own
process, as each step is its own pod on Kubernetes). The step's process is SIGKILLed mid-MD;
the run retries the step (the asset's RetryPolicy), which resumes from the last checkpoint and
ends with frames bitwise identical to an uninterrupted run's."""

import shutil
import signal
import threading
import time
from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import psutil
import pytest
import yaml

import ionic_assets
from ionic_assets.cli.runner import load_definitions
from ionic_assets.defs.materials.partitions import add_partition_keys
from ionic_assets_tests.stored import query

PROTOCOLS_FILE = Path(ionic_assets.__file__).parent / "config" / "protocols.yaml"

MD_KEY = dg.AssetKey(["chgnet", "md_trajectories"])
PARTITION_TAGS = {
    "dagster/partition": "gvd|1000",
    "dagster/partition/material": "gvd",
    "dagster/partition/temperature_K": "1000",
}


def md_job() -> dg.JobDefinition:
    """CHGNet's md_trajectories as a job the multiprocess executor can rebuild in its step
    processes."""
    job = dg.define_asset_job("chgnet_md", selection=[MD_KEY])
    return dg.Definitions.merge(load_definitions(), dg.Definitions(jobs=[job])).resolve_job_def(
        "chgnet_md"
    )


def _run(instance) -> dg.ExecuteInProcessResult:
    return dg.execute_job(dg.reconstructable(md_job), instance=instance, tags=PARTITION_TAGS)


def _frames(home) -> dict[str, np.ndarray]:
    (path,) = query(home, "SELECT trajectory_path FROM md_trajectories")["trajectory_path"]
    with h5py.File(home / path if not path.startswith("/") else path) as h5:
        return {name: h5[name][()] for name in ("positions_A", "time_ps", "step")}


def _kill_the_step_once_it_checkpointed(home, deadline_s: float = 900.0) -> None:
    """SIGKILL the step process (a child of this one) once a checkpoint exists."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if any((home / "trajectories").rglob("*.ckpt")):
            steps = [
                p
                for p in psutil.Process().children(recursive=True)
                if "spawn_main" in " ".join(p.cmdline())
            ]
            assert len(steps) == 1, [p.cmdline() for p in steps]
            steps[0].send_signal(signal.SIGKILL)
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint was written")


def _short_smoke(path: Path) -> Path:
    """The smoke protocol cut to 100 steps with a checkpoint every 25, as its own file."""
    protocols = yaml.safe_load(PROTOCOLS_FILE.read_text())
    smoke = protocols["smoke"]
    smoke.update(duration_ps=0.2, equilibration_ps=0.05, diffusion_fit_start_ps=0.05)
    smoke.update(checkpoint_interval_steps=25, progress_interval_steps=25)
    smoke["guards"]["temperature_window_steps"] = 50
    path.write_text(yaml.safe_dump(protocols))
    return path


@pytest.mark.slow
def test_a_killed_md_step_is_retried_and_resumes_bitwise(home, instance, monkeypatch, tmp_path):
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke")
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOLS_FILE", str(_short_smoke(tmp_path / "p.yaml")))
    monkeypatch.setenv("IONIC_ASSETS_STEP_RETRY_DELAY_S", "0")
    add_partition_keys(instance, ["gvd"], ["1000"])
    defs = load_definitions()
    for asset, partition in (("obelix_subset", None), ("supercells", "gvd")):
        dg.materialize(defs.assets, selection=[asset], partition_key=partition,
                       instance=instance, resources=dict(defs.resources))  # fmt: skip

    assert _run(instance).success  # uninterrupted
    uninterrupted = _frames(home)
    shutil.rmtree(home / "trajectories")

    result: list = []
    runner = threading.Thread(target=lambda: result.append(_run(instance)))
    runner.start()
    _kill_the_step_once_it_checkpointed(home)
    runner.join(timeout=900)
    (run,) = result
    assert run.success
    events = instance.all_logs(run.run_id)
    kinds = [e.dagster_event.event_type_value for e in events if e.dagster_event]
    assert kinds.count("STEP_UP_FOR_RETRY") == 1 and kinds.count("STEP_RESTARTED") == 1
    crash = next(e for e in events if e.dagster_event and e.dagster_event.is_step_up_for_retry)
    assert crash.dagster_event.event_specific_data.error.cls_name == "ChildProcessCrashException"
    materialization = run.asset_materializations_for_node("chgnet__md_trajectories")[-1]
    assert materialization.metadata["n_invocations"].value == 2  # resumed, not started afresh
    resumed = _frames(home)
    for name, expected in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], expected, err_msg=name)

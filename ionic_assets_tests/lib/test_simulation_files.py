"""MD on object storage: checkpoints reach the store as they are written, and a run whose pod
died resumes in a fresh pod (a fresh local folder) from the store alone, bit for bit.

A real `run_nvt` (EMT copper, cheap) on a memory:// store, so nothing assumes a local disk.
"""

import logging
import shutil
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest

from ionic_assets.lib.storage import ArtifactStore, StorageError
from ionic_assets.science.md.ase_runner import run_nvt
from ionic_assets.science.md.checkpoint import load_checkpoint
from ionic_assets.science.trajectory_store import frame_count, read_trajectory
from ionic_assets_tests.science.md._helpers import (
    Interrupt,
    StatelessEMT,
    copper,
    interrupt_at,
    short_protocol,
)

REL = "trajectories/emt/test/cu/900K.h5"
# 100 steps, a frame every 5, a checkpoint every 25 (steps 25, 50, 75; then the final one).
PROTOCOL = short_protocol(
    duration_ps=0.2,
    equilibration_ps=0.1,
    frame_interval_steps=5,
    checkpoint_interval_steps=25,
    progress_interval_steps=5,
    guards={"temperature_window_steps": 50},
)


def run(path: Path, **kwargs):
    return run_nvt(copper(), StatelessEMT(), PROTOCOL, 900.0, 3, path, **kwargs)


def memory_store() -> ArtifactStore:
    return ArtifactStore(f"memory://ionic-test-{uuid.uuid4().hex}")


@pytest.fixture
def stores():
    made = []

    def make():
        made.append(memory_store())
        return made[-1]

    yield make
    fs = fsspec.filesystem("memory")
    for store in made:
        if fs.exists(store.root):
            fs.rm(store.root, recursive=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, on a local disk."""
    result = run(tmp_path_factory.mktemp("reference") / "reference.h5")
    return read_trajectory(result.trajectory_path), result


def stored_step(store: ArtifactStore, rel: str, tmp_path: Path) -> int:
    """The MD step of the checkpoint stored at `rel`."""
    _, meta = load_checkpoint(store.get(rel, tmp_path / "probe" / Path(rel).name))
    return meta["state"]["step"]


def test_local_store_hands_out_the_real_files(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    with store.simulation_files(REL) as files:
        assert files.path == tmp_path / "store" / REL
        assert files.workdir == tmp_path / "store" / "trajectories/emt/test/cu/900K.dft"
        assert files.path.parent.is_dir() and not files.workdir.exists()
        files.path.write_bytes(b"frames")
        files.sync()  # nothing to do
    assert (tmp_path / "store" / REL).read_bytes() == b"frames"


def test_checkpoints_reach_the_store_and_a_fresh_pod_resumes(tmp_path, stores, reference):
    expected, expected_result = reference
    store, killed = stores(), stores()
    seen_on_store = []

    with store.simulation_files(REL) as files:
        local_dir = files.path.parent

        def on_checkpoint():
            files.sync()
            seen_on_store.append(stored_step(store, REL + ".ckpt", tmp_path))

        with pytest.raises(Interrupt):
            run(files.path, on_progress=interrupt_at(60), on_checkpoint=on_checkpoint)
        # The pod dies here: the store holds only what the checkpoints uploaded.
        for name in store.fs.find(store.root):
            rel = store.relpath(store.fs.unstrip_protocol(name))
            killed.write_bytes(rel, store.read_bytes(rel))
    assert not local_dir.exists()  # the temporary working folder is gone
    assert seen_on_store == [25, 50]
    assert sorted(killed.fs.find(killed.root)) == sorted(
        killed.path(REL + suffix) for suffix in ("", ".ckpt", ".ckpt.prev")
    )
    assert stored_step(killed, REL + ".ckpt.prev", tmp_path) == 25
    with killed.local_copy(REL, "r") as path:
        assert frame_count(path) == 11  # frames up to step 50, written with that checkpoint

    with killed.simulation_files(REL) as files:  # a new pod: an empty local folder
        assert files.path.parent != local_dir
        resumed = run(files.path, on_checkpoint=files.sync)
    assert resumed.n_invocations == 2 and resumed.n_steps_run == 50
    with killed.local_copy(REL, "r") as path:
        actual = read_trajectory(path)
    assert actual.n_frames == expected.n_frames == 21
    assert np.array_equal(actual.positions_A, expected.positions_A)
    assert resumed.mean_temperature_K == expected_result.mean_temperature_K
    assert stored_step(killed, REL + ".ckpt", tmp_path) == 100
    # A third pod finds the finished run and computes nothing.
    with killed.simulation_files(REL) as files:
        again = run(files.path)
    assert again.n_invocations == 2 and again.n_frames == 21


def test_a_failed_run_keeps_its_work_on_the_store(tmp_path, stores, reference):
    """No checkpoint callback at all: the block's end uploads the files of the failed run."""
    expected, _ = reference
    store = stores()
    with pytest.raises(Interrupt), store.simulation_files(REL) as files:
        run(files.path, on_progress=interrupt_at(80))
    assert stored_step(store, REL + ".ckpt", tmp_path) == 75
    with store.simulation_files(REL) as files:
        resumed = run(files.path)
    assert resumed.n_steps_run == 25
    with store.local_copy(REL, "r") as path:
        assert np.array_equal(read_trajectory(path).positions_A, expected.positions_A)


def test_engine_folder_round_trip_uploads_only_what_changed(stores, monkeypatch):
    store = stores()
    with store.simulation_files(REL) as files:
        files.workdir.mkdir()
        (files.workdir / "cp2k-RESTART.wfn").write_bytes(b"wfn-1")
        (files.workdir / "sub").mkdir()
        (files.workdir / "sub" / "cp2k.out").write_text("step 1")
        files.path.write_bytes(b"h5-1")
        files.sync()
        assert store.read_bytes("trajectories/emt/test/cu/900K.dft/cp2k-RESTART.wfn") == b"wfn-1"
        puts = []
        real_put = store.put
        monkeypatch.setattr(
            store, "put", lambda local, rel: puts.append(rel) or real_put(local, rel)
        )
        (files.workdir / "cp2k-RESTART.wfn").write_bytes(b"wfn-2")
        files.sync()
        assert puts == ["trajectories/emt/test/cu/900K.dft/cp2k-RESTART.wfn"]
    assert puts == ["trajectories/emt/test/cu/900K.dft/cp2k-RESTART.wfn"]  # nothing new at the end
    with store.simulation_files(REL) as files:  # another pod
        assert (files.workdir / "cp2k-RESTART.wfn").read_bytes() == b"wfn-2"
        assert (files.workdir / "sub" / "cp2k.out").read_text() == "step 1"
        assert files.path.read_bytes() == b"h5-1"
        puts.clear()
    assert puts == []  # downloaded files are not uploaded back


def test_store_outage_is_retried_then_reported_with_the_kept_folder(stores, monkeypatch, caplog):
    store = stores()

    def unreachable(local, rel):
        raise OSError("connection reset")

    monkeypatch.setattr(store, "put", unreachable)
    with (
        pytest.raises(StorageError, match="connection reset") as raised,
        store.simulation_files(REL) as files,
    ):
        files.path.write_bytes(b"frames")
        with caplog.at_level(logging.WARNING, logger="ionic_assets.lib.storage"):
            files.sync()  # a checkpoint's upload fails: logged, the run goes on
        assert "retried at the next one" in caplog.text
    kept = files.path.parent
    assert str(kept) in str(raised.value) and files.path.read_bytes() == b"frames"
    # A failed run whose files cannot be stored either: its own error stays the one raised.
    with pytest.raises(Interrupt) as raised, store.simulation_files(REL) as files:
        files.path.write_bytes(b"frames")
        raise Interrupt
    assert any("could not be stored" in note for note in raised.value.__notes__)
    assert files.path.is_file()
    for folder in (kept, files.path.parent):
        shutil.rmtree(folder)

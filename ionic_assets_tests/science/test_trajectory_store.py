"""HDF5 trajectory files: layout readable with plain h5py, append, truncate, failed writes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from ionic_assets.science import trajectory_store as store
from ionic_assets.science.errors import InputError


def make_file(path, n_atoms=3):
    store.create_trajectory_file(
        path,
        numbers=np.array([3, 3, 7][:n_atoms]),
        cell_A=np.eye(3) * 4.0,
        temperature_K=900.0,
        timestep_fs=2.0,
        frame_interval_steps=5,
        provenance={"seed": 7, "model": {"family": "chgnet"}},
    )
    return path


def frames(start, count, n_atoms=3):
    rng = np.random.default_rng(start)
    positions = rng.normal(size=(count, n_atoms, 3)).astype(np.float32) * 20  # unwrapped
    steps = np.arange(start, start + count) * 5
    return positions, steps * 0.002, steps


def test_append_and_read_back(tmp_path):
    path = make_file(tmp_path / "t.h5")
    first, second = frames(0, 4), frames(4, 3)
    assert store.append_frames(path, *first) == 4
    assert store.append_frames(path, *second) == 7
    trajectory = store.read_trajectory(path)
    assert trajectory.n_frames == 7 and trajectory.n_atoms == 3
    expected = np.concatenate([first[0], second[0]])
    assert np.array_equal(trajectory.positions_A, expected.astype(np.float64))
    assert np.allclose(trajectory.time_ps, np.arange(7) * 0.01)
    assert trajectory.temperature_K == 900.0
    assert trajectory.metadata["seed"] == 7
    assert trajectory.metadata["timestep_fs"] == 2.0
    assert list(trajectory.indices_of(7)) == [2]


def test_layout_readable_with_plain_h5py(tmp_path):
    path = make_file(tmp_path / "t.h5")
    store.append_frames(path, *frames(0, 2))
    with h5py.File(path, "r") as h5:
        assert h5["positions_A"].dtype == np.float32
        assert h5["positions_A"].shape == (2, 3, 3)
        assert h5["positions_A"].maxshape == (None, 3, 3)
        assert h5["positions_A"].chunks is not None
        assert list(h5["step"][:]) == [0, 5]
        assert h5["cell_A"].shape == (3, 3)
        assert list(h5["numbers"][:]) == [3, 3, 7]
        assert h5.attrs["frame_interval_steps"] == 5
        assert json.loads(h5.attrs["provenance"])["model"]["family"] == "chgnet"


def test_truncate_drops_frames_after_checkpoint(tmp_path):
    path = make_file(tmp_path / "t.h5")
    store.append_frames(path, *frames(0, 5))
    store.truncate_frames(path, 3)
    assert store.frame_count(path) == 3
    assert np.array_equal(store.read_trajectory(path).positions_A, frames(0, 5)[0][:3])
    with pytest.raises(InputError, match="has 3 frames, expected >= 4"):
        store.truncate_frames(path, 4)


def test_failed_write_leaves_file_readable(tmp_path, monkeypatch):
    path = make_file(tmp_path / "t.h5")
    store.append_frames(path, *frames(0, 2))

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full_disk)
    with pytest.raises(store.StorageError, match="No space left on device") as error:
        store.append_frames(path, *frames(2, 2))
    monkeypatch.undo()
    assert "\n" not in str(error.value)
    assert store.frame_count(path) == 2
    assert not (tmp_path / "t.h5.tmp").exists()


def test_unreadable_file_is_input_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="cannot open"):
        store.read_trajectory(path)

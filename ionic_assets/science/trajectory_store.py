"""HDF5 trajectory files written while an MD run goes, readable at any moment.

Layout (plain h5py can read it; lengths in Angstrom, times in picoseconds)::

    /positions_A   float32 (n_frames, n_atoms, 3)  unwrapped Cartesian positions, chunked,
                                                   resizable along frames
    /time_ps       float64 (n_frames,)             simulation time of each frame
    /step          int64   (n_frames,)             MD step of each frame
    /cell_A        float64 (3, 3)                  lattice vectors as rows (NVT: fixed)
    /numbers       int32   (n_atoms,)              atomic numbers
    attrs: format_version, temperature_K, timestep_fs, frame_interval_steps,
           provenance (JSON: run key, protocol, thermostat, model identity, seed, versions)

Every change (creation, appending frames, truncation) is made on an in-memory copy that then
replaces the file (temporary file, fsync, `os.replace`), so a process killed at any moment leaves
either the old or the new complete file, never a half-written one, and a full disk leaves the
old one. Rewriting costs milliseconds for the few MB of a trajectory and happens only at
checkpoints.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ionic_assets.science.errors import InputError, StorageError
from ionic_assets.science.trajectory import Trajectory

FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20  # ~1 MB position chunks: large enough to read fast, small to append


def create_trajectory_file(
    path: str | Path,
    *,
    numbers: np.ndarray,
    cell_A: np.ndarray,
    temperature_K: float,
    timestep_fs: float,
    frame_interval_steps: int,
    provenance: dict,
) -> None:
    """Create (or replace) an empty trajectory file for `len(numbers)` atoms."""
    path = Path(path)
    n_atoms = len(numbers)
    chunk_frames = max(1, min(64, CHUNK_BYTES // (n_atoms * 12)))
    with _atomic_h5(path, copy_existing=False) as h5:
        h5.create_dataset(
            "positions_A",
            shape=(0, n_atoms, 3),
            maxshape=(None, n_atoms, 3),
            chunks=(chunk_frames, n_atoms, 3),
            dtype="f4",
        )
        for name, dtype in (("time_ps", "f8"), ("step", "i8")):
            h5.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(1024,), dtype=dtype)
        h5.create_dataset("cell_A", data=np.asarray(cell_A, dtype="f8"))
        h5.create_dataset("numbers", data=np.asarray(numbers, dtype="i4"))
        h5.attrs.update(
            format_version=FORMAT_VERSION,
            temperature_K=float(temperature_K),
            timestep_fs=float(timestep_fs),
            frame_interval_steps=int(frame_interval_steps),
            provenance=json.dumps(provenance, sort_keys=True, default=str),
        )


def write_trajectory(
    path: str | Path, trajectory: Trajectory, *, frame_interval_steps: int, provenance: dict
) -> None:
    """Write a whole `Trajectory` (e.g. an imported one) as a platform trajectory file.

    `frame_interval_steps` is the number of MD steps between frames; the time step (fs) stored
    is the frame interval divided by it. Frames must be evenly spaced in time.
    """
    intervals_ps = np.diff(trajectory.time_ps)
    if len(intervals_ps) == 0 or not np.allclose(intervals_ps, intervals_ps[0], rtol=1e-6):
        raise InputError(f"trajectory {path}: needs >= 2 evenly spaced frames")
    create_trajectory_file(
        path,
        numbers=trajectory.numbers,
        cell_A=trajectory.cell_A,
        temperature_K=trajectory.temperature_K,
        timestep_fs=intervals_ps[0] * 1000 / frame_interval_steps,
        frame_interval_steps=frame_interval_steps,
        provenance=provenance,
    )
    steps = np.arange(trajectory.n_frames) * frame_interval_steps
    append_frames(path, trajectory.positions_A, trajectory.time_ps, steps)


def append_frames(
    path: str | Path, positions_A: np.ndarray, time_ps: np.ndarray, steps: np.ndarray
) -> int:
    """Append frames ((k, n_atoms, 3) positions, Angstrom) and return the new frame count."""
    with _atomic_h5(Path(path)) as h5:
        start = h5["positions_A"].shape[0]
        end = start + len(positions_A)
        for name, values in (("positions_A", positions_A), ("time_ps", time_ps), ("step", steps)):
            h5[name].resize(end, axis=0)
            h5[name][start:end] = values
    return end


def truncate_frames(path: str | Path, n_frames: int) -> None:
    """Drop the frames after the first `n_frames` (those written after the last checkpoint)."""
    current = frame_count(path)
    if current < n_frames:
        raise InputError(f"trajectory {path}: has {current} frames, expected >= {n_frames}")
    if current == n_frames:
        return
    with _atomic_h5(Path(path)) as h5:
        for name in ("positions_A", "time_ps", "step"):
            h5[name].resize(n_frames, axis=0)


def frame_count(path: str | Path) -> int:
    with _open_for_reading(path) as h5:
        return int(h5["positions_A"].shape[0])


def read_provenance(path: str | Path) -> dict:
    with _open_for_reading(path) as h5:
        return json.loads(h5.attrs["provenance"])


def read_trajectory(path: str | Path) -> Trajectory:
    """Read a trajectory file; positions come back as float64 Angstrom."""
    with _open_for_reading(path) as h5:
        attrs = dict(h5.attrs)
        metadata = json.loads(attrs.pop("provenance"))
        metadata.update(
            timestep_fs=float(attrs["timestep_fs"]),
            frame_interval_steps=int(attrs["frame_interval_steps"]),
            format_version=int(attrs["format_version"]),
            source=str(path),
        )
        return Trajectory(
            positions_A=h5["positions_A"][:].astype(np.float64),
            time_ps=h5["time_ps"][:],
            cell_A=h5["cell_A"][:],
            numbers=h5["numbers"][:].astype(np.int64),
            temperature_K=float(attrs["temperature_K"]),
            metadata=metadata,
        )


@contextmanager
def _open_for_reading(path: str | Path) -> Iterator[h5py.File]:
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise InputError(f"trajectory {path}: cannot open ({exc})") from exc
    with h5:
        yield h5


@contextmanager
def _atomic_h5(path: Path, copy_existing: bool = True) -> Iterator[h5py.File]:
    """Edit `path` in memory and replace it on disk only once complete.

    HDF5 never writes to disk itself: a failed write (disk full) inside the HDF5 library leaves
    it with an open, broken file that can crash the process at exit; plain Python I/O fails
    cleanly with an OSError.
    """
    try:
        image = io.BytesIO(path.read_bytes() if copy_existing else b"")
    except OSError as exc:
        raise InputError(f"trajectory {path}: cannot read ({exc})") from exc
    with h5py.File(image, "r+" if copy_existing else "w") as h5:
        yield h5
    try:
        write_atomically(path, image.getbuffer())
    except OSError as exc:
        raise StorageError(
            f"cannot write trajectory {path}: {exc}; the file is left as it was"
        ) from exc


def write_atomically(path: Path, data: bytes | memoryview) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file, whole.

    Write a temporary file, fsync it, rename it over `path`, fsync the directory (so the rename
    itself is on disk).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a successful replace

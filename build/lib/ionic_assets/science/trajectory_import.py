"""Load MD trajectories made anywhere into a `Trajectory` with unwrapped positions.

Formats (`fmt`, guessed from the file name when not given):

* "extxyz" (.extxyz, .xyz), "traj" (ASE .traj), "vasp-xdatcar" (XDATCAR*): these files carry no
  time axis, so `timestep_fs` (the MD integration step) and `frame_stride` (MD steps between
  stored frames; NBLOCK for XDATCAR) are required.
* "vasp-xml" (vasprun.xml, *.xml): the time step is read from POTIM and the temperature from
  TEBEG; vasprun.xml stores every ionic step, so `frame_stride` defaults to 1 (set it for
  machine-learned force-field runs that thin their output with ML_OUTBLOCK).
* "h5": the platform's own trajectory files (`trajectory_store.read_trajectory`), which carry
  their own time axis.

Positions in these files are often wrapped into the cell. They are unwrapped by taking, between
consecutive frames, the displacement of each fractional coordinate to its nearest periodic image
and summing. A displacement within `AMBIGUOUS_FRACTION` of half a lattice vector cannot be told
apart from the opposite move through the boundary, so it is refused (frames too far apart).
The cell must be the same in every frame (NVT).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ase.io
import numpy as np
from ase.data import chemical_symbols

from ionic_assets.science.errors import InputError
from ionic_assets.science.trajectory import Trajectory
from ionic_assets.science.trajectory_store import read_trajectory, write_trajectory

FORMATS = ("extxyz", "traj", "vasp-xdatcar", "vasp-xml", "h5")
#: Largest consecutive-frame move, as a fraction of a lattice vector, accepted as unambiguous.
AMBIGUOUS_FRACTION = 0.4
CELL_RTOL = 1e-6
MIN_CELL_VOLUME_A3 = 1e-3
FS_PER_PS = 1000.0
#: Largest difference (K) between the temperature a file records and the one it is filed under.
TEMPERATURE_TOLERANCE_K = 1.0


def load_trajectory(
    path: str | Path,
    *,
    fmt: str | None = None,
    temperature_K: float | None = None,
    timestep_fs: float | None = None,
    frame_stride: int | None = None,
) -> Trajectory:
    """Read `path` as a `Trajectory`: unwrapped Cartesian positions (Angstrom), times (ps).

    `temperature_K` overrides the temperature stored in the file (if any); `timestep_fs` and
    `frame_stride` give (or override) the time between frames: timestep_fs * frame_stride fs.

    Raises:
        InputError: missing or unreadable file, unknown format, missing time information,
            no Li, a changing cell, times not increasing, or positions that cannot be unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"trajectory {path}: no such file")
    fmt = fmt or _guess_format(path)
    if fmt not in FORMATS:
        raise InputError(f"trajectory {path}: unknown format {fmt!r} (one of {FORMATS})")
    if fmt == "h5":
        traj = _read_platform_h5(path, temperature_K, timestep_fs, frame_stride)
    else:
        traj = _read_with_ase(path, fmt, temperature_K, timestep_fs, frame_stride)
    if np.any(np.diff(traj.time_ps) <= 0):
        raise InputError(f"trajectory {path}: frame times are not strictly increasing")
    if traj.n_li == 0:
        raise InputError(f"trajectory {path}: no Li atoms")
    return traj


def import_trajectory(
    source: str | Path,
    destination: str | Path,
    *,
    temperature_K: float,
    expected_numbers,
    provenance: dict,
    fmt: str | None = None,
    timestep_fs: float | None = None,
    frame_stride: int | None = None,
) -> Trajectory:
    """Validate a trajectory computed elsewhere and copy it into a platform HDF5 file.

    Checks (InputError naming the file): readable with a time axis (see `load_trajectory`), the
    temperature it records (if any) within `TEMPERATURE_TOLERANCE_K` of `temperature_K`, and
    the species of the material `expected_numbers` (atomic numbers) in the same proportions.
    The destination is written atomically; the source is never modified. Returns the trajectory
    with `provenance` as its metadata, the source file's own under "source_metadata".
    """
    trajectory = load_trajectory(
        source, fmt=fmt, timestep_fs=timestep_fs, frame_stride=frame_stride
    )
    recorded = trajectory.temperature_K
    if recorded is not None and abs(recorded - temperature_K) > TEMPERATURE_TOLERANCE_K:
        raise InputError(
            f"trajectory {source}: run at {recorded:g} K, registered for {temperature_K:g} K"
        )
    check_species(trajectory, expected_numbers, source=str(source))
    trajectory = dataclasses.replace(trajectory, temperature_K=float(temperature_K))
    stride = trajectory.metadata.get("frame_interval_steps") or frame_stride or 1
    provenance = {**provenance, "source_metadata": trajectory.metadata}
    write_trajectory(
        destination, trajectory, frame_interval_steps=int(stride), provenance=provenance
    )
    return dataclasses.replace(trajectory, metadata=provenance)


def check_species(trajectory: Trajectory, expected_numbers, *, source: str) -> None:
    """InputError unless `trajectory` holds the elements of `expected_numbers` (atomic numbers
    of the material, any cell size) in the same proportions."""
    found = dict(zip(*np.unique(trajectory.numbers, return_counts=True), strict=True))
    expected = dict(zip(*np.unique(np.asarray(expected_numbers), return_counts=True), strict=True))
    n_found, n_expected = sum(found.values()), sum(expected.values())
    if found.keys() != expected.keys() or any(
        found[z] * n_expected != expected[z] * n_found for z in expected
    ):
        raise InputError(
            f"trajectory {source}: species {_formula(found)} do not match the material's "
            f"{_formula(expected)}"
        )


def _formula(counts: dict) -> str:
    return " ".join(f"{chemical_symbols[z]}{n}" for z, n in sorted(counts.items()))


def unwrap_positions(positions_A: np.ndarray, cell_A: np.ndarray, *, source: str) -> np.ndarray:
    """Unwrapped copy of (n_frames, n_atoms, 3) Cartesian positions in a fixed cell (rows).

    Raises InputError naming the frames and atom when a move is too close to half a cell.
    """
    frac = positions_A @ np.linalg.inv(cell_A)
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    ambiguous = np.argwhere(np.abs(step) > AMBIGUOUS_FRACTION)
    if len(ambiguous):
        frame, atom, axis = ambiguous[0]
        raise InputError(
            f"trajectory {source}: atom {atom} moves {abs(step[frame, atom, axis]):.2f} of lattice "
            f"vector {axis} between frames {frame} and {frame + 1}; cannot unwrap unambiguously "
            "(frames too far apart in time?)"
        )
    unwrapped = frac[0] + np.concatenate([np.zeros_like(frac[:1]), np.cumsum(step, axis=0)])
    return unwrapped @ cell_A


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    by_suffix = {".h5": "h5", ".traj": "traj", ".extxyz": "extxyz", ".xyz": "extxyz"}
    if path.suffix.lower() in by_suffix:
        return by_suffix[path.suffix.lower()]
    if "xdatcar" in name:
        return "vasp-xdatcar"
    if name.endswith(".xml"):
        return "vasp-xml"
    raise InputError(f"trajectory {path}: cannot tell the format from the name; pass fmt")


def _read_platform_h5(path: Path, temperature_K, timestep_fs, frame_stride) -> Trajectory:
    if timestep_fs is not None or frame_stride is not None:
        raise InputError(
            f"trajectory {path}: .h5 files carry their own time axis; "
            "timestep_fs and frame_stride do not apply"
        )
    traj = read_trajectory(path)
    if temperature_K is not None:
        traj = dataclasses.replace(traj, temperature_K=float(temperature_K))
    return traj


def _read_with_ase(path: Path, fmt: str, temperature_K, timestep_fs, frame_stride) -> Trajectory:
    try:
        frames = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:  # ase raises many types for malformed files; all mean "unreadable"
        raise InputError(f"trajectory {path}: cannot read as {fmt} ({exc})") from exc
    if not frames:
        raise InputError(f"trajectory {path}: no frames")
    numbers, cell_A = _fixed_numbers_and_cell(frames, path)
    if fmt == "vasp-xml":  # vasprun.xml: every ionic step, POTIM and TEBEG in its parameters
        parameters = getattr(frames[0].calc, "parameters", {})
        timestep_fs = timestep_fs if timestep_fs is not None else parameters.get("potim")
        frame_stride = frame_stride if frame_stride is not None else 1
        temperature_K = temperature_K if temperature_K is not None else parameters.get("tebeg")
    frame_fs = _frame_interval_fs(path, fmt, timestep_fs, frame_stride)
    positions_A = np.stack([atoms.positions for atoms in frames])
    return Trajectory(
        positions_A=unwrap_positions(positions_A, cell_A, source=str(path)),
        time_ps=np.arange(len(frames)) * frame_fs / FS_PER_PS,
        cell_A=cell_A,
        numbers=numbers,
        temperature_K=None if temperature_K is None else float(temperature_K),
        metadata={
            "source": str(path),
            "format": fmt,
            "timestep_fs": float(timestep_fs),
            "frame_stride": int(frame_stride),
            "unwrapped_by": "trajectory_import.unwrap_positions",
        },
    )


def _fixed_numbers_and_cell(frames: list, path: Path) -> tuple[np.ndarray, np.ndarray]:
    numbers = frames[0].numbers
    cell_A = np.array(frames[0].cell[:])
    if any(not np.array_equal(a.numbers, numbers) for a in frames):
        raise InputError(f"trajectory {path}: the atoms change between frames")
    if abs(np.linalg.det(cell_A)) < MIN_CELL_VOLUME_A3:
        raise InputError(f"trajectory {path}: no periodic cell (needed to unwrap positions)")
    if any(not np.allclose(a.cell[:], cell_A, rtol=CELL_RTOL, atol=CELL_RTOL) for a in frames):
        raise InputError(f"trajectory {path}: the cell changes between frames (only NVT)")
    return numbers.copy(), cell_A


def _frame_interval_fs(path: Path, fmt: str, timestep_fs, frame_stride) -> float:
    missing = [
        name
        for name, value in (("timestep_fs", timestep_fs), ("frame_stride", frame_stride))
        if value is None
    ]
    if missing:
        raise InputError(
            f"trajectory {path}: the {fmt} file has no time step; give {' and '.join(missing)}"
        )
    if not (timestep_fs > 0 and int(frame_stride) == frame_stride and frame_stride >= 1):
        raise InputError(
            f"trajectory {path}: timestep_fs must be > 0 and frame_stride a positive integer "
            f"(got {timestep_fs}, {frame_stride})"
        )
    return float(timestep_fs) * int(frame_stride)

"""Checkpoint files of an MD run: the integrator's arrays and the run's state, verified.

A file is ``MAGIC + sha256(payload) + payload``, the payload an .npz with a JSON "meta" entry.
For ``trajectory_path = run.h5``: ``run.h5.ckpt`` (latest checkpoint) and ``run.h5.ckpt.prev``
(the one before, used when the latest fails its checksum).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from ionic_assets.science import trajectory_store as store

CHECKPOINT_MAGIC = b"IAMDCKP1"
DIGEST_BYTES = 32


def write_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Atomically replace `path` (temp file, fsync, rename), keeping the old one as .prev."""
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    payload = buffer.getvalue()
    try:
        if path.exists():
            os.replace(path, _previous(path))
        store.write_atomically(path, CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)
    except OSError as exc:
        raise store.StorageError(
            f"cannot write checkpoint {path}: {exc}; a rerun resumes from the one before"
        ) from exc


def load_checkpoint(
    path: Path, step: int | None = None
) -> tuple[dict[str, np.ndarray], dict] | None:
    """The latest valid checkpoint (falling back to .prev), or None if there is none. With
    `step`: the one of that step if either file holds it (a batch resumes all its systems from
    one step, `torchsim_runner`), else the latest."""
    valid = []
    for candidate in (path, _previous(path)):
        if not candidate.exists():
            continue
        loaded = _read_checkpoint(candidate)
        if loaded is None:
            warnings.warn(f"checkpoint {candidate} is corrupt; using the one before", stacklevel=3)
            candidate.unlink()  # so the next rotation does not keep it as the fallback
            continue
        if step is None or loaded[1]["state"]["step"] == step:
            return loaded
        valid.append(loaded)
    return valid[0] if valid else None


def resumable_step(path: Path) -> int | None:
    """The step an unfinished run's latest checkpoint holds; None if none or finished."""
    checkpoint = load_checkpoint(path)
    if checkpoint is None or checkpoint[1]["completed"]:
        return None
    return checkpoint[1]["state"]["step"]


def _read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    blob = path.read_bytes()
    header = len(CHECKPOINT_MAGIC) + DIGEST_BYTES
    payload = blob[header:]
    if blob[: len(CHECKPOINT_MAGIC)] != CHECKPOINT_MAGIC or (
        hashlib.sha256(payload).digest() != blob[len(CHECKPOINT_MAGIC) : header]
    ):
        return None
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return arrays, json.loads(str(arrays.pop("meta")))


def checkpoint_path(trajectory_path: Path) -> Path:
    """Where a trajectory's checkpoint goes: beside it, `X.h5.ckpt` (the one before: `.prev`)."""
    return trajectory_path.with_name(trajectory_path.name + ".ckpt")


def _previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")

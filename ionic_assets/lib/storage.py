"""Artifact storage: trajectories and reports under one base URL (fsspec).

The base URL comes from IONIC_ASSETS_STORAGE_URL and defaults to IONIC_ASSETS_HOME, so nothing
changes locally. In a cluster it is either a volume mounted at the same path in every pod (a
plain path, deploy/helm/values.yaml's default) or object storage that every pod can reach:
`s3://bucket/ionic` (the `s3` extra, s3fs), `gs://bucket/ionic` (gcsfs), `file:///mnt/ionic`, or
`memory://ionic` in tests. Paths below the base are relative POSIX paths:

    ionic.duckdb                                                the embedded warehouse (DUCKDB)
    ducklake/                                                   DuckLake's data files, by default
    trajectories/<method>/<protocol>/<material>/<T>K.h5         md_trajectories (HDF5)
    trajectories/.../<T>K.h5.ckpt, <T>K.h5.ckpt.prev            its MD checkpoints
    trajectories/.../<T>K.dft/                                  a DFT engine's restart files
    reports/parity.html, reports/<method>/<material>/msd.html   figures (+ .png previews)

Who uses what:

- `lib.warehouse.Warehouse` (the `warehouse` resource) keeps its tables beside the store
  (`lib.warehouse_backends`): the embedded DuckDB file needs a local store (DuckDB opens and
  locks the file itself); DuckLake puts its Parquet files under `ducklake/` unless told
  otherwise. No database goes through this module.
- md_trajectories runs the MD inside `simulation_files(rel)`: local working files, downloaded
  first when the store has them (a resumed run), uploaded after every checkpoint
  (`run_nvt(on_checkpoint=files.sync)`) and when the run ends, failed or not. It records
  `url(rel)` as the row's `trajectory_path`.
- diffusion_estimates reads that trajectory with `local_copy(relpath(url), "r")`.
- `defs.reports.publish_figures` writes figures locally and publishes them under `reports/`.

On a local base (a path or file://) everything hands out the real files (no copies) and
`url()` is the plain path, as IONIC_ASSETS_HOME paths always were; `local_copy(rel, "w")` writes
beside the target and renames it into place, so a crash never leaves half a file. On object
storage files go through a temporary directory and are uploaded whole (an object store publishes
an object only when its upload completes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ionic_assets.lib import settings
from ionic_assets.science.errors import StorageError

STORAGE_URL_ENV = settings.STORAGE_URL.name
DUCKDB = "ionic.duckdb"
#: The MD runner's files beside a trajectory `X.h5` (science/md/checkpoint.py), upload order: the
#: trajectory before the checkpoints, so the store never holds a checkpoint newer than its frames.
CHECKPOINT_SUFFIXES = ("", ".ckpt.prev", ".ckpt")

logger = logging.getLogger(__name__)


def default_base_url() -> str:
    """IONIC_ASSETS_STORAGE_URL, else the local IONIC_ASSETS_HOME."""
    return settings.storage_url()


def engine_workdir(trajectory_relpath: str) -> str:
    """The engine work folder `X.dft/` (a DFT code's restart files) of the trajectory `X.h5`."""
    return str(PurePosixPath(trajectory_relpath).with_suffix(".dft"))


def _clean_relpath(relpath: str | os.PathLike) -> str:
    rel = PurePosixPath(str(relpath).replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or str(rel) in ("", "."):
        raise ValueError(f"artifact path {relpath!r}: must be relative, inside the store")
    return str(rel)


class ArtifactStore:
    """Files below one base URL, on any fsspec filesystem."""

    def __init__(self, base_url: str | os.PathLike, **storage_options):
        self.base_url = str(base_url)
        self.fs, root = fsspec.core.url_to_fs(self.base_url, **storage_options)
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, LocalFileSystem)
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    @classmethod
    def from_env(cls) -> ArtifactStore:
        return cls(default_base_url())

    def __repr__(self) -> str:
        return f"ArtifactStore({self.base_url!r})"

    # -- addressing ---------------------------------------------------------------------------

    def path(self, relpath: str | os.PathLike) -> str:
        """The filesystem path (no protocol) of `relpath` on this store's filesystem."""
        return f"{self.root.rstrip('/')}/{_clean_relpath(relpath)}"

    def url(self, relpath: str | os.PathLike) -> str:
        """Where `relpath` lives, to record and to open from another pod: a plain path on a
        local store (as IONIC_ASSETS_HOME paths always were), else a URL like s3://b/ionic/x.h5."""
        path = self.path(relpath)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def relpath(self, url: str | os.PathLike) -> str:
        """The path below the base of a url() (or of a relative path, returned cleaned)."""
        text = str(url)
        if "://" not in text and not os.path.isabs(text):
            return _clean_relpath(text)
        path = self.fs._strip_protocol(text)
        root = self.root.rstrip("/") + "/"
        if not path.startswith(root):
            raise ValueError(f"{url}: not below this store's base {self.base_url}")
        return _clean_relpath(path[len(root) :])

    def local_path(self, relpath: str | os.PathLike) -> Path | None:
        """The local file of `relpath` when the store is local, else None."""
        return Path(self.path(relpath)) if self.is_local else None

    def exists(self, relpath: str | os.PathLike) -> bool:
        return self.fs.exists(self.path(relpath))

    # -- transfers ----------------------------------------------------------------------------

    def put(self, local: str | os.PathLike, relpath: str | os.PathLike) -> str:
        """Publish a local file at `relpath` in one piece; returns its url()."""
        local = Path(local)
        if not local.is_file():
            raise StorageError(f"cannot store {local}: no such file")
        target = self.path(relpath)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if self.is_local:
            # Copy beside the target, then rename: readers see the old file or the new one.
            partial = f"{target}.partial-{uuid.uuid4().hex}"
            shutil.copyfile(local, partial)
            os.replace(partial, target)
        else:
            self.fs.put_file(str(local), target)
        return self.url(relpath)

    def get(self, relpath: str | os.PathLike, local: str | os.PathLike) -> Path:
        """Copy `relpath` to the local file `local` (its folder is created); returns it."""
        source = self.path(relpath)
        if not self.fs.exists(source):
            raise StorageError(f"no artifact {self.url(relpath)}")
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(source, str(local))
        return local

    def read_bytes(self, relpath: str | os.PathLike) -> bytes:
        return self.fs.cat_file(self.path(relpath))

    def write_bytes(self, relpath: str | os.PathLike, data: bytes) -> str:
        with tempfile.TemporaryDirectory(prefix="ionic-store-") as tmp:
            local = Path(tmp) / PurePosixPath(_clean_relpath(relpath)).name
            local.write_bytes(data)
            return self.put(local, relpath)

    def delete(self, relpath: str | os.PathLike) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(relpath))

    @contextlib.contextmanager
    def local_copy(self, relpath: str | os.PathLike, mode: str = "w") -> Iterator[Path]:
        """A local working path for `relpath`, for libraries that need a real file.

        mode "r": the existing artifact (the file itself on a local store, a downloaded copy
                  otherwise); nothing is uploaded. A missing artifact is a StorageError.
        mode "w": a fresh path with no file yet; when the block ends without an exception the
                  file written there is published at `relpath` in one piece (rename locally,
                  one upload otherwise). On an exception nothing is published.
        mode "a": as "w", but starting from a copy of the existing artifact, if any.
        """
        if mode not in ("r", "w", "a"):
            raise ValueError(f"local_copy mode {mode!r}: one of 'r', 'w', 'a'")
        name = PurePosixPath(_clean_relpath(relpath)).name
        if mode == "r" and self.is_local:
            path = Path(self.path(relpath))
            if not path.is_file():
                raise StorageError(f"no artifact {self.url(relpath)}")
            yield path
            return
        if self.is_local:
            # Work beside the target so the final rename never crosses filesystems.
            target = Path(self.path(relpath))
            target.parent.mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        else:
            workdir = Path(tempfile.mkdtemp(prefix="ionic-store-"))
        try:
            path = workdir / name
            if mode == "r" or (mode == "a" and self.exists(relpath)):
                self.get(relpath, path)
            yield path
            if mode != "r":
                if not path.is_file():
                    raise StorageError(f"{self.url(relpath)}: nothing was written at {path}")
                if self.is_local:
                    os.replace(path, self.path(relpath))
                else:
                    self.put(path, relpath)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- simulations: long runs that checkpoint ------------------------------------------------

    @contextlib.contextmanager
    def simulation_files(self, relpath: str | os.PathLike) -> Iterator[SimulationFiles]:
        """Local working files of the simulation whose trajectory is `relpath` (`X.h5`).

        Yields a SimulationFiles: `path`, the local `X.h5` (the MD runner writes `X.h5.ckpt` and
        `X.h5.ckpt.prev` beside it), and `workdir`, the local engine work folder `X.dft/` (not
        created). On a local store these are the real files and `sync()` does nothing. On object
        storage they are in a temporary directory: what the store holds of them (an interrupted
        run's frames, checkpoints and restart files) is downloaded first; `sync()` uploads what
        changed (pass it as `run_nvt(on_checkpoint=...)`); and when the block ends, normally or
        by an exception (a failed run keeps its frames and checkpoints), what changed since the
        last sync is uploaded, then the temporary directory is removed.
        If that last upload fails, the temporary directory is kept and the error names it.
        """
        rel = _clean_relpath(relpath)
        workdir_rel = engine_workdir(rel)
        if self.is_local:
            path = Path(self.path(rel))
            path.parent.mkdir(parents=True, exist_ok=True)
            yield SimulationFiles(path, Path(self.path(workdir_rel)))
            return
        tmp = Path(tempfile.mkdtemp(prefix="ionic-sim-"))
        files = SimulationFiles(
            tmp / PurePosixPath(rel).name,
            tmp / PurePosixPath(workdir_rel).name,
            _store=self,
            _relpath=rel,
        )
        try:
            files.download()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            yield files
        except BaseException as exc:
            try:
                files.publish()
            except Exception as upload:  # the run's own error stays the one raised
                logger.error("%s: files of the failed run not stored: %s", self.url(rel), upload)
                exc.add_note(f"and its files could not be stored: {upload}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        files.publish()
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class SimulationFiles:
    """The local files of one simulation, kept in step with the store (see
    `ArtifactStore.simulation_files`).

    path: the local HDF5 trajectory `X.h5`; its checkpoints are `X.h5.ckpt` and `X.h5.ckpt.prev`.
    workdir: the local engine work folder `X.dft/` (a DFT code's restart files), not created.
    """

    path: Path
    workdir: Path
    _store: ArtifactStore | None = field(default=None, repr=False)
    _relpath: str = field(default="", repr=False)
    #: (mtime_ns, size) of each local file as last downloaded or uploaded, by store path.
    _synced: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    def _pairs(self) -> list[tuple[Path, str]]:
        """(local file, store path) of every file to keep, in upload order: the engine's files,
        then the trajectory, then its checkpoints (see CHECKPOINT_SUFFIXES)."""
        workdir_rel = engine_workdir(self._relpath)
        pairs = []
        if self.workdir.is_dir():
            for local in sorted(p for p in self.workdir.rglob("*") if p.is_file()):
                pairs.append((local, f"{workdir_rel}/{local.relative_to(self.workdir).as_posix()}"))
        for suffix in CHECKPOINT_SUFFIXES:
            pairs.append((self.path.with_name(self.path.name + suffix), self._relpath + suffix))
        return pairs

    def download(self) -> None:
        """Copy what the store holds of this simulation into the local files."""
        store = self._store
        if store is None:
            return
        workdir = store.path(engine_workdir(self._relpath))
        remote = [store.path(self._relpath + suffix) for suffix in CHECKPOINT_SUFFIXES]
        if store.fs.isdir(workdir):
            remote += store.fs.find(workdir)
        parent = PurePosixPath(self._relpath).parent
        for source in remote:
            if not store.fs.isfile(source):
                continue
            rel = store.relpath(store.fs.unstrip_protocol(source))
            local = store.get(rel, self.path.parent / PurePosixPath(rel).relative_to(parent))
            self._synced[rel] = _stamp(local)

    def publish(self) -> None:
        """Upload every local file that changed since it was downloaded or last uploaded (a
        no-op on a local store). Raises StorageError when an upload fails."""
        if self._store is None:
            return
        for local, rel in self._pairs():
            if not local.is_file():
                continue
            stamp = _stamp(local)
            if self._synced.get(rel) == stamp:
                continue
            try:
                self._store.put(local, rel)
            except (OSError, ValueError) as exc:
                raise StorageError(
                    f"cannot store {local} at {self._store.url(rel)}: {exc}; the local files "
                    f"are kept in {self.path.parent}"
                ) from exc
            self._synced[rel] = stamp

    def sync(self) -> None:
        """publish(), for a checkpoint callback: a failed upload is logged, not raised, so a
        transient storage error does not stop a long run; the next sync and the final upload
        when the `simulation_files` block ends try again (and that one raises)."""
        try:
            self.publish()
        except StorageError as exc:
            logger.warning("checkpoint not stored yet, retried at the next one: %s", exc)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size

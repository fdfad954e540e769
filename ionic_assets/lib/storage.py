"""Artifact storage: trajectories, reports and the DuckDB file under one base URL (fsspec).

The base URL comes from IONIC_ASSETS_STORAGE_URL and defaults to IONIC_ASSETS_HOME, so nothing
changes locally. In a cluster it is either a volume mounted at the same path in every pod (a
plain path, deploy/helm/values.yaml's default) or object storage that every pod can reach:
`s3://bucket/ionic` (needs `s3fs`), `gs://bucket/ionic` (`gcsfs`), `file:///mnt/ionic`, or
`memory://ionic` in tests. Paths below the base are relative POSIX paths, the same that
`settings` uses below IONIC_ASSETS_HOME:

    ionic.duckdb                                                      the warehouse (DUCKDB)
    trajectories/<method>/<protocol>/<material>/<T>K.h5               md_trajectories
    reports/...                                                       figures and tables

Wiring (where the assets change, nothing else does):

    store = ArtifactStore.from_env()

    # a library that needs a real file (h5py, kaleido): write locally, publish on success
    rel = f"trajectories/{method.key}/{protocol}/{material}/{T:g}K.h5"
    with store.local_copy(rel, "w") as path:      # path: a local pathlib.Path, not yet there
        md.run_nvt(..., path, ...)
    row["trajectory_path"] = store.url(rel)       # what other pods open

    rel = store.relpath(row["trajectory_path"])   # downstream step, maybe in another pod
    with store.local_copy(rel, "r") as path:
        ...read it (h5py, kinisi)...               # the real file on a local store

    # the DuckDB warehouse: one writer at a time across pods (a lock file beside it), written to
    # a local copy and published atomically; e.g. in a DuckDBResource subclass:
    with store.duckdb_file(write=True) as path, duckdb.connect(str(path)) as conn:
        replace_rows(conn, ...)
    with store.duckdb_file(write=False) as path:  # a consistent snapshot, no lock
        ...duckdb.connect(str(path), read_only=True)...

On a local base (a path or file://) `local_copy(rel, "r")` and `duckdb_file(write=True)` hand
out the real file (no copy), and "w" writes beside the target and renames it into place, so a
crash never leaves half a file; on object storage files go through a temporary directory and
are uploaded whole (an object store publishes an object only when its upload completes).

The DuckDB lock is a file `<db>.lock` created exclusively (fsspec mode "xb": O_EXCL locally,
atomic in memory://, a conditional put on backends that support it) holding its owner and
creation time; a lock older than `stale_after_s` (its owner died) is broken. Writes take
seconds, so the default stale time (1 h) is far beyond any live holder. Where a backend cannot
create exclusively the lock falls back to write-then-read-back, which is not race-free: use a
shared volume, or the pool limit of 1 documented in deploy/README.md, for such backends.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ionic_assets.lib import settings

STORAGE_URL_ENV = "IONIC_ASSETS_STORAGE_URL"
DUCKDB = "ionic.duckdb"


class StorageError(RuntimeError):
    """An artifact is missing, or the storage lock could not be had or was lost."""


def default_base_url() -> str:
    """IONIC_ASSETS_STORAGE_URL, else the local IONIC_ASSETS_HOME."""
    return os.environ.get(STORAGE_URL_ENV) or str(settings.home_dir())


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

    # -- the DuckDB warehouse -----------------------------------------------------------------

    def lock(self, relpath: str | os.PathLike, **kwargs) -> StorageLock:
        return StorageLock(self.fs, self.path(f"{_clean_relpath(relpath)}.lock"), **kwargs)

    @contextlib.contextmanager
    def duckdb_file(
        self,
        relpath: str | os.PathLike = DUCKDB,
        *,
        write: bool = True,
        timeout_s: float = 600.0,
        stale_after_s: float = 3600.0,
    ) -> Iterator[Path]:
        """A local path of the DuckDB file at `relpath`.

        write=True: one writer at a time across processes and pods (`<relpath>.lock`). On a local
        store the real file is handed out; otherwise the current file is downloaded (or none, for
        a new database) and uploaded in one piece when the block ends without an exception; the
        lock is checked to be still ours before that upload.
        write=False: a private snapshot of the last published state (copied between writers on
        a local store, downloaded otherwise), deleted after the block; a database that does not
        exist yet gives a path with no file.
        """
        name = PurePosixPath(_clean_relpath(relpath)).name
        if not write:
            with tempfile.TemporaryDirectory(prefix="ionic-db-") as tmp:
                snapshot = Path(tmp) / name
                if self.is_local and self.exists(relpath):
                    # DuckDB refuses a second process on a file open for writing: copy it
                    # between writers.
                    with self.lock(relpath, timeout_s=timeout_s, stale_after_s=stale_after_s):
                        shutil.copyfile(self.path(relpath), snapshot)
                elif self.exists(relpath):
                    self.get(relpath, snapshot)  # uploads are whole: no lock needed
                yield snapshot
            return
        with self.lock(relpath, timeout_s=timeout_s, stale_after_s=stale_after_s) as held:
            if self.is_local:
                path = Path(self.path(relpath))
                path.parent.mkdir(parents=True, exist_ok=True)
                yield path
                return
            workdir = Path(tempfile.mkdtemp(prefix="ionic-db-"))
            try:
                path = workdir / name
                if self.exists(relpath):
                    self.get(relpath, path)
                yield path
                held.check()
                if path.is_file():
                    self.put(path, relpath)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)


class StorageLock:
    """An exclusive lock file on an fsspec filesystem, with owner, timestamp and stale timeout."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        *,
        timeout_s: float = 600.0,
        stale_after_s: float = 3600.0,
        poll_s: float = 0.5,
    ):
        self.fs = fs
        self.path = path
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        self.poll_s = poll_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self.held = False

    def _record(self) -> bytes:
        return json.dumps({"owner": self.owner, "created": time.time()}).encode()

    def read(self) -> dict | None:
        """The current lock record, or None when there is no lock."""
        try:
            return json.loads(self.fs.cat_file(self.path))
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            # Being written by its owner this instant (created empty, then filled), or garbled:
            # its age is the file's.
            try:
                created = self.fs.modified(self.path).timestamp()
            except FileNotFoundError:
                return None
            except (NotImplementedError, OSError, AttributeError, ValueError):
                created = time.time()
            return {"owner": None, "created": created}

    def _try_create(self) -> bool:
        self.fs.makedirs(posixpath.dirname(self.path), exist_ok=True)
        try:
            with self.fs.open(self.path, "xb") as f:
                f.write(self._record())
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError):
            # No exclusive create on this backend: write unless present, then read back.
            if self.fs.exists(self.path):
                return False
            self.fs.pipe_file(self.path, self._record())
        record = self.read()
        return bool(record) and record.get("owner") == self.owner

    def acquire(self) -> StorageLock:
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self._try_create():
                self.held = True
                return self
            record = self.read()
            if record is not None and time.time() - float(record.get("created", 0)) > (
                self.stale_after_s
            ):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(self.path)  # its owner is gone; contend again at once
                continue
            if time.monotonic() >= deadline:
                holder = record.get("owner") if record else "unknown"
                raise StorageError(
                    f"lock {self.path}: still held by {holder} after {self.timeout_s:g} s"
                )
            time.sleep(self.poll_s)

    def check(self) -> None:
        """Raise StorageError unless the lock file still names this owner."""
        record = self.read()
        if not record or record.get("owner") != self.owner:
            raise StorageError(f"lock {self.path}: lost (taken as stale by another writer)")

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        record = self.read()
        if record and record.get("owner") == self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path)

    def __enter__(self) -> StorageLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

"""ArtifactStore on a local path, a file:// URL and fsspec's memory:// (no local disk assumed)."""

import json
import os
import threading
import time
import uuid

import duckdb
import fsspec
import pytest

from ionic_assets.lib.storage import (
    STORAGE_URL_ENV,
    ArtifactStore,
    StorageError,
    StorageLock,
    default_base_url,
)


@pytest.fixture(params=["path", "file", "memory"])
def store(request, tmp_path):
    if request.param == "path":
        yield ArtifactStore(tmp_path / "store")
    elif request.param == "file":
        yield ArtifactStore(f"file://{tmp_path}/store")
    else:
        root = f"ionic-test-{uuid.uuid4().hex}"
        yield ArtifactStore(f"memory://{root}")
        fs = fsspec.filesystem("memory")
        if fs.exists(f"/{root}"):
            fs.rm(f"/{root}", recursive=True)


REL = "trajectories/chgnet/smoke/gvd/1000K.h5"


def test_default_base_is_the_data_home(monkeypatch, tmp_path):
    monkeypatch.delenv(STORAGE_URL_ENV, raising=False)
    monkeypatch.setenv("IONIC_ASSETS_HOME", str(tmp_path / "home"))
    assert default_base_url() == str(tmp_path / "home")
    store = ArtifactStore.from_env()
    assert store.is_local
    assert store.url(REL) == str(tmp_path / "home" / REL)  # same paths as before
    monkeypatch.setenv(STORAGE_URL_ENV, "memory://elsewhere")
    assert not ArtifactStore.from_env().is_local


def test_put_get_exists_url(store, tmp_path):
    local = tmp_path / "out.h5"
    local.write_bytes(b"frames")
    assert not store.exists(REL)
    url = store.put(local, REL)
    assert store.exists(REL) and url == store.url(REL)
    back = store.get(REL, tmp_path / "back" / "in.h5")
    assert back.read_bytes() == b"frames"
    # The recorded url opens from anywhere, with fsspec alone.
    with fsspec.open(url, "rb") as f:
        assert f.read() == b"frames"
    assert (store.local_path(REL) is not None) == store.is_local
    assert store.relpath(url) == REL == store.relpath(REL)
    with pytest.raises(ValueError):
        store.relpath("memory:///somewhere/else.h5" if store.is_local else "/somewhere/else.h5")
    with pytest.raises(StorageError):
        store.get("reports/missing.png", tmp_path / "x")
    with pytest.raises(ValueError):
        store.url("../escape")


def test_local_copy_publishes_only_on_success(store):
    with store.local_copy(REL, "w") as path:
        assert not path.exists()
        path.write_bytes(b"v1")
        assert not store.exists(REL)  # nothing visible before the block ends
    assert store.read_bytes(REL) == b"v1"

    with pytest.raises(RuntimeError), store.local_copy(REL, "w") as path:
        path.write_bytes(b"half")
        raise RuntimeError("simulation failed")
    assert store.read_bytes(REL) == b"v1"

    with store.local_copy(REL, "a") as path:
        assert path.read_bytes() == b"v1"
        path.write_bytes(path.read_bytes() + b"+v2")
    with store.local_copy(REL, "r") as path:
        assert path.read_bytes() == b"v1+v2"
    with pytest.raises(StorageError), store.local_copy("reports/none.png", "r"):
        pass
    with pytest.raises(StorageError), store.local_copy("reports/empty.png", "w"):
        pass  # nothing written: an error, not an empty artifact


def test_local_copy_leaves_no_temporary_files(store):
    with store.local_copy(REL, "w") as path:
        path.write_bytes(b"x")
    names = [p.rsplit("/", 1)[-1] for p in store.fs.find(store.root)]
    assert names == ["1000K.h5"]


def test_duckdb_write_then_snapshot(store):
    with store.duckdb_file(write=False) as path:
        assert not path.exists()  # no database yet
    with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
        conn.execute("create table t (x integer)")
        conn.execute("insert into t values (1)")
    with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
        conn.execute("insert into t values (2)")
    with store.duckdb_file(write=False) as path, duckdb.connect(str(path), read_only=True) as c:
        assert c.execute("select sum(x) from t").fetchone()[0] == 3
    assert not store.exists("ionic.duckdb.lock")


def test_duckdb_failed_write_is_not_published():
    """On object storage a failed step's writes never reach the shared file."""
    store = ArtifactStore(f"memory://ionic-test-{uuid.uuid4().hex}")
    with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
        conn.execute("create table t (x integer)")
    with pytest.raises(RuntimeError), store.duckdb_file() as path:
        with duckdb.connect(str(path)) as conn:
            conn.execute("insert into t values (9)")
        raise RuntimeError("step failed")
    with store.duckdb_file(write=False) as path, duckdb.connect(str(path), read_only=True) as c:
        assert c.execute("select count(*) from t").fetchone()[0] == 0
    assert not store.exists("ionic.duckdb.lock")
    store.fs.rm(store.root, recursive=True)


def test_snapshot_reads_beside_an_open_writer(store):
    """A reader never opens the file a writer has open: it reads a consistent snapshot."""
    with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
        conn.execute("create table t (x integer)")
        conn.execute("insert into t values (1)")
    writing = threading.Event()

    def write():
        with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
            conn.execute("insert into t values (2)")
            writing.set()
            time.sleep(0.3)

    writer = threading.Thread(target=write)
    writer.start()
    writing.wait(5)
    with store.duckdb_file(write=False) as path, duckdb.connect(str(path), read_only=True) as c:
        count = c.execute("select count(*) from t").fetchone()[0]
    writer.join()
    # Locally the snapshot is taken between writers, else it is the last upload.
    assert count == (2 if store.is_local else 1)


def test_one_writer_at_a_time(store):
    """Two writers in threads: the second waits for the first; no update is lost."""
    with store.duckdb_file() as path, duckdb.connect(str(path)) as conn:
        conn.execute("create table t (who varchar, t_s double)")
    inside = []

    def write(name):
        with store.duckdb_file(timeout_s=20) as path:
            inside.append(("enter", name))
            with duckdb.connect(str(path)) as conn:
                conn.execute("insert into t values (?, ?)", [name, time.time()])
            time.sleep(0.2)
            inside.append(("exit", name))

    threads = [threading.Thread(target=write, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Strictly alternating: enter, exit, enter, exit.
    assert [event for event, _ in inside] == ["enter", "exit", "enter", "exit"]
    with store.duckdb_file(write=False) as path, duckdb.connect(str(path), read_only=True) as c:
        assert sorted(r[0] for r in c.execute("select who from t").fetchall()) == ["a", "b"]


def test_lock_timeout_stale_and_lost(store):
    first = store.lock("ionic.duckdb", timeout_s=0.3, poll_s=0.05).acquire()
    with pytest.raises(StorageError, match="still held"):
        store.lock("ionic.duckdb", timeout_s=0.3, poll_s=0.05).acquire()
    # A holder that died long ago: its lock is broken after stale_after_s.
    thief = store.lock("ionic.duckdb", timeout_s=2, stale_after_s=0.2, poll_s=0.05)
    time.sleep(0.3)
    thief.acquire()
    with pytest.raises(StorageError, match="lost"):
        first.check()
    first.release()  # not ours any more: must not remove the thief's lock
    assert store.exists("ionic.duckdb.lock")
    thief.release()
    assert not store.exists("ionic.duckdb.lock")


def test_lock_being_written_is_not_stale(store):
    """A lock file with no record yet (its owner is writing it) is held, not broken."""
    store.fs.makedirs(store.root, exist_ok=True)
    store.fs.pipe_file(store.path("ionic.duckdb.lock"), b"")
    with pytest.raises(StorageError, match="still held"):
        store.lock("ionic.duckdb", timeout_s=0.2, stale_after_s=60, poll_s=0.05).acquire()


def test_garbled_lock_is_stale_by_its_age(tmp_path):
    store = ArtifactStore(tmp_path)
    lock_file = tmp_path / "ionic.duckdb.lock"
    lock_file.write_bytes(b"{not json")
    old = time.time() - 7200
    os.utime(lock_file, (old, old))
    with store.lock("ionic.duckdb", timeout_s=0.2, stale_after_s=3600) as lock:
        assert json.loads(lock_file.read_bytes())["owner"] == lock.owner


def test_lock_without_exclusive_create(tmp_path, monkeypatch):
    """Backends without mode "xb" fall back to write-then-read-back."""
    fs = fsspec.filesystem("memory")
    path = f"/ionic-test-{uuid.uuid4().hex}/db.lock"
    real_open = fs.open

    def no_exclusive(p, mode="rb", **kw):
        if "x" in mode:
            raise NotImplementedError("no exclusive create")
        return real_open(p, mode, **kw)

    monkeypatch.setattr(fs, "open", no_exclusive)
    lock = StorageLock(fs, path, timeout_s=0.2, poll_s=0.05)
    with lock:
        assert fs.exists(path)
        with pytest.raises(StorageError):
            StorageLock(fs, path, timeout_s=0.2, poll_s=0.05).acquire()
    assert not fs.exists(path)


def test_dead_holder_elsewhere_waits_for_the_stale_time(store):
    """A holder on another host (another pod) cannot be checked: only its age breaks its lock."""
    store.fs.makedirs(store.root, exist_ok=True)
    record = {"owner": "pod-7:1:x", "created": time.time(), "host": "pod-7", "pid": 1}
    store.fs.pipe_file(store.path("ionic.duckdb.lock"), json.dumps(record).encode())
    with pytest.raises(StorageError, match="still held by pod-7:1:x"):
        store.lock("ionic.duckdb", timeout_s=0.2, poll_s=0.05).acquire()
    with store.lock("ionic.duckdb", timeout_s=2, stale_after_s=0.1, poll_s=0.05):
        pass


def test_breaking_a_lock_never_removes_a_newer_one(store):
    """Two waiters saw the same dead holder's lock; the faster broke it and took a new lock.
    The slower one's break must leave that new lock alone."""
    store.fs.makedirs(store.root, exist_ok=True)
    dead = {"owner": "gone", "created": time.time() - 7200, "host": "h", "pid": 1}
    lock_path = store.path("ionic.duckdb.lock")
    store.fs.pipe_file(lock_path, json.dumps(dead).encode())
    slow = store.lock("ionic.duckdb", stale_after_s=3600)
    judged = slow.read()
    assert slow._abandoned(judged)
    with store.lock("ionic.duckdb", timeout_s=2, stale_after_s=3600, poll_s=0.05) as fast:
        assert not slow._break(judged)
        fast.check()
    assert not store.exists("ionic.duckdb.lock.break")

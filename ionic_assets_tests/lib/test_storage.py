"""ArtifactStore on a local path, a file:// URL and fsspec's memory:// (no local disk assumed)."""

import uuid

import fsspec
import pytest

from ionic_assets.lib.storage import STORAGE_URL_ENV, ArtifactStore, StorageError, default_base_url


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

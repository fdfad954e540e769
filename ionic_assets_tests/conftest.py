"""Shared fixtures: a temporary data home and a real Dagster instance per test."""

import os
from pathlib import Path

import dagster as dg
import pytest

SHARED_OBELIX = Path(__file__).resolve().parents[2] / "shared" / "obelix"

# Offline machines (CI) read the OBELiX release shipped beside the repository.
if "OBELIX_DATA_DIR" not in os.environ and SHARED_OBELIX.is_dir():
    os.environ["OBELIX_DATA_DIR"] = str(SHARED_OBELIX)


@pytest.fixture
def obelix_dir() -> Path:
    return Path(os.environ["OBELIX_DATA_DIR"])


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh IONIC_ASSETS_HOME and DAGSTER_HOME for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("IONIC_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").touch()
    return home


@pytest.fixture
def instance(home) -> dg.DagsterInstance:
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server on 127.0.0.1 for the session (`pg_local.py`)."""
    from ionic_assets_tests.pg_local import local_postgres

    with local_postgres() as server:
        yield server


@pytest.fixture
def ducklake(postgres_server, tmp_path, monkeypatch):
    """The DuckLake backend on a fresh catalog database and data folder, set as the default
    warehouse for this test (IONIC_ASSETS_WAREHOUSE=ducklake)."""
    import uuid

    from ionic_assets.lib.warehouse_backends import DuckLake

    catalog = postgres_server.create_database(f"lake_{uuid.uuid4().hex[:12]}")
    lake = DuckLake(catalog, str(tmp_path / "lake"))
    monkeypatch.setenv("IONIC_ASSETS_WAREHOUSE", "ducklake")
    monkeypatch.setenv("IONIC_ASSETS_DUCKLAKE_CATALOG", lake.catalog)
    monkeypatch.setenv("IONIC_ASSETS_DUCKLAKE_DATA_PATH", lake.data_path)
    yield lake
    lake.close()


@pytest.fixture(scope="session")
def k8s_cluster(tmp_path_factory):
    """One real Kubernetes control plane for the session, with a GPU and a CPU node whose pods
    the kubelet stand-in runs (`cluster.py`)."""
    from ionic_assets_tests.cluster import local_cluster

    with local_cluster(tmp_path_factory.mktemp("pods")) as cluster:
        yield cluster

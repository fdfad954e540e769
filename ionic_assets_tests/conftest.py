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

"""Where the platform keeps its data, from the environment.

IONIC_ASSETS_HOME  data home (default `data/home`): DuckDB file, trajectories, reports, unless
                   IONIC_ASSETS_STORAGE_URL puts those elsewhere (see `lib/storage.py`, which
                   the assets write through).
OBELIX_DATA_DIR    a local OBELiX release laid out as `obelix-data` expects; when unset the
                   package downloads release v1.2.0-data into `data/obelix` once.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def home_dir() -> Path:
    home = Path(os.environ.get("IONIC_ASSETS_HOME", PROJECT_ROOT / "data" / "home"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def duckdb_path() -> Path:
    return home_dir() / "ionic.duckdb"


def trajectories_dir() -> Path:
    return home_dir() / "trajectories"


def obelix_dir() -> Path:
    return Path(os.environ.get("OBELIX_DATA_DIR", PROJECT_ROOT / "data" / "obelix"))

"""Where the platform keeps its data, from the environment.

IONIC_ASSETS_HOME  data home (default `data/home`): DuckDB file, trajectories, reports, unless
                   IONIC_ASSETS_STORAGE_URL puts those elsewhere (see `lib/storage.py`, which
                   the assets write through).
OBELIX_DATA_DIR    a local OBELiX release laid out as `obelix-data` expects; when unset the
                   package downloads release v1.2.0-data into `data/obelix` once.
IONIC_ASSETS_PROTOCOL, IONIC_ASSETS_PROTOCOLS_FILE
                   the MD protocol runs use when their config does not name one, and the file
                   it is looked up in (default: the package's config/protocols.yaml).
IONIC_ASSETS_WAREHOUSE
                   the warehouse backend (`lib/warehouse_backends.py`): `duckdb` (default), one
                   local file `ionic.duckdb` below the store, no server; or `ducklake`, DuckLake
                   with the PostgreSQL catalog and data path below, for many writers (a cluster).
IONIC_ASSETS_DUCKLAKE_CATALOG
                   libpq connection string of DuckLake's catalog database (default
                   `dbname=ionic_warehouse`; host, user, password may come from PGHOST, PGUSER,
                   PGPASSWORD, e.g. from a Kubernetes Secret).
IONIC_ASSETS_DUCKLAKE_DATA_PATH
                   folder or s3:// URL of DuckLake's Parquet files (default: `ducklake/` below
                   the artifact store's base).
"""

from __future__ import annotations

import os
from pathlib import Path

from ionic_assets.science import protocols

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def home_dir() -> Path:
    home = Path(os.environ.get("IONIC_ASSETS_HOME", PROJECT_ROOT / "data" / "home"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def obelix_dir() -> Path:
    return Path(os.environ.get("OBELIX_DATA_DIR", PROJECT_ROOT / "data" / "obelix"))


def protocol_name() -> str:
    return os.environ.get("IONIC_ASSETS_PROTOCOL", "paper")


def load_md_protocol(
    name: str | None = None, protocols_file: str | None = None
) -> protocols.Protocol:
    """The MD protocol `name` (default: `protocol_name()`) from `protocols_file` (default:
    IONIC_ASSETS_PROTOCOLS_FILE, else the package's). Environment read at call time."""
    path = protocols_file or os.environ.get("IONIC_ASSETS_PROTOCOLS_FILE")
    return protocols.load_protocol(name or protocol_name(), path)


def warehouse_backend() -> str:
    """IONIC_ASSETS_WAREHOUSE: `duckdb` (default) or `ducklake`."""
    return os.environ.get("IONIC_ASSETS_WAREHOUSE", "duckdb").strip().lower() or "duckdb"


def ducklake_catalog() -> str:
    """IONIC_ASSETS_DUCKLAKE_CATALOG: libpq connection string (default dbname=ionic_warehouse)."""
    return os.environ.get("IONIC_ASSETS_DUCKLAKE_CATALOG") or "dbname=ionic_warehouse"


def ducklake_data_path(default: str) -> str:
    """IONIC_ASSETS_DUCKLAKE_DATA_PATH, else `default` (the store's `ducklake/` folder)."""
    return os.environ.get("IONIC_ASSETS_DUCKLAKE_DATA_PATH") or default

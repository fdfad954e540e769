"""Where the platform keeps its data, from the environment.

IONIC_ASSETS_HOME  data home (default `data/home`): DuckDB file, trajectories, reports, unless
                   IONIC_ASSETS_STORAGE_URL puts those elsewhere (see `lib/storage.py`, which
                   the assets write through).
OBELIX_DATA_DIR    a local OBELiX release laid out as `obelix-data` expects; when unset the
                   package downloads release v1.2.0-data into `data/obelix` once.
IONIC_ASSETS_PROTOCOL, IONIC_ASSETS_PROTOCOLS_FILE
                   the MD protocol runs use when their config does not name one, and the file
                   it is looked up in (default: the package's config/protocols.yaml).
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

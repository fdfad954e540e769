"""Every environment variable the platform reads, declared once, read when used.

Each `Variable` has its name, meaning, default and unit; the README's Configuration table lists
the same ones (a test compares the two). Nothing here is read at import time: each getter reads
the environment when it is called, so a variable set after import takes effect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ionic_assets.science import protocols
from ionic_assets.science.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variable:
    """One environment variable. `<PART>` in a name stands for a value (`IMAGE_<ENGINE>`)."""

    name: str
    meaning: str
    default: str
    unit: str = "-"

    def read(self, **parts: str) -> str | None:
        """The variable's value now, None when unset or empty; `parts` fill the `<PART>`s."""
        name = self.name
        for part, value in parts.items():
            name = name.replace(f"<{part.upper()}>", value.upper())
        return os.environ.get(name) or None


HOME = Variable(
    "IONIC_ASSETS_HOME", "data home: `ionic.duckdb`, `trajectories/`, `reports/`", "`data/home`",
    "path",
)  # fmt: skip
STORAGE_URL = Variable(
    "IONIC_ASSETS_STORAGE_URL",
    "where `ionic.duckdb`, `trajectories/`, `reports/` go instead: a path or an fsspec URL "
    "(`s3://bucket/ionic` with the `s3` extra, `file://...`; see `deploy/README.md`)",
    "`IONIC_ASSETS_HOME`",
    "path or URL",
)
OBELIX_DATA_DIR = Variable(
    "OBELIX_DATA_DIR", "local OBELiX release (`all.csv`, `all_randomized_cifs/`)",
    "download into `data/obelix`", "path",
)  # fmt: skip
DAGSTER_HOME = Variable(
    "DAGSTER_HOME", "Dagster instance (runs, events, partitions; SQLite locally)",
    "`$IONIC_ASSETS_HOME/dagster` for the CLI", "path",
)  # fmt: skip
PROTOCOL = Variable(
    "IONIC_ASSETS_PROTOCOL",
    "MD protocol used when a run does not say (`paper`, `adaptive`, `smoke`)", "`paper`", "name",
)  # fmt: skip
METHODS_FILE = Variable(
    "IONIC_ASSETS_METHODS_FILE", "another methods file with the layout of `config/methods.yaml`",
    "the checked-in one", "path",
)  # fmt: skip
PROTOCOLS_FILE = Variable(
    "IONIC_ASSETS_PROTOCOLS_FILE",
    "another protocols file with the layout of `config/protocols.yaml`", "the checked-in one",
    "path",
)  # fmt: skip
EXECUTOR = Variable(
    "IONIC_ASSETS_EXECUTOR", "step executor: `local` (Dagster's default) or `k8s` (a Job per step)",
    "`local`", "name",
)  # fmt: skip
K8S_IMAGE = Variable(
    "IONIC_ASSETS_K8S_IMAGE", "image of every step pod", "the code location's image", "image",
)  # fmt: skip
K8S_ENGINE_IMAGE = Variable(
    "IONIC_ASSETS_K8S_IMAGE_<ENGINE>",
    "image of the `md_trajectories` steps of the methods whose engine is `<ENGINE>` "
    "(`MACE`, `CHGNET`, `SEVENN`, `VASP`, `CP2K`)",
    "`IONIC_ASSETS_K8S_IMAGE`",
    "image",
)
K8S_NAMESPACE = Variable(
    "IONIC_ASSETS_K8S_NAMESPACE", "namespace of the step Jobs", "the run launcher's", "name",
)  # fmt: skip
POOL_DEFAULTS = {
    ("gpu", "node_selector"): "`ionic-assets/pool: gpu`",
    ("gpu", "tolerations"): "`nvidia.com/gpu` Exists, NoSchedule",
    ("cpu", "node_selector"): "`ionic-assets/pool: cpu`",
    ("cpu", "tolerations"): "none",
}
POOL_SETTINGS = {
    (pool, what): Variable(
        f"IONIC_ASSETS_{pool.upper()}_{what.upper()}",
        f"{what.replace('_', ' ')} of the {pool.upper()} pool's step pods (`lib/k8s.py`)",
        default,
        "JSON",
    )
    for (pool, what), default in POOL_DEFAULTS.items()
}
VASP_COMMAND = Variable(
    "VASP_COMMAND", "how to run VASP (`{ncores}` is replaced by the CPU count), `dft-vasp`",
    "unset: `dft-vasp` fails at once", "command",
)  # fmt: skip
ASE_VASP_COMMAND = Variable(
    "ASE_VASP_COMMAND", "ASE's name for the VASP command, used when set", "`VASP_COMMAND`",
    "command",
)  # fmt: skip
VASP_PP_PATH = Variable(
    "VASP_PP_PATH", "folder holding VASP's `potpaw_PBE/` POTCARs, `dft-vasp`",
    "unset: `dft-vasp` fails at once", "path",
)  # fmt: skip
VASP_VERSION = Variable(
    "VASP_VERSION", "VASP version recorded with `dft-vasp` trajectories", "`unknown`", "text",
)  # fmt: skip
CP2K_DATA_DIR = Variable(
    "CP2K_DATA_DIR", "CP2K's basis sets and pseudopotentials (`dft-cp2k`)",
    "`/usr/share/cp2k` (Debian `cp2k-data`)", "path",
)  # fmt: skip
WAREHOUSE = Variable(
    "IONIC_ASSETS_WAREHOUSE",
    "where the tables live: `duckdb`, the file `ionic.duckdb` below a local store, no server; or "
    '`ducklake`, DuckLake with a PostgreSQL catalog, for many writers (see "Which warehouse")',
    "`duckdb`",
    "name",
)
DUCKLAKE_CATALOG = Variable(
    "IONIC_ASSETS_DUCKLAKE_CATALOG",
    "DuckLake's catalog database, a libpq connection string (password from `PGPASSWORD`)",
    "`dbname=ionic_warehouse`",
    "libpq string",
)
DUCKLAKE_DATA_PATH = Variable(
    "IONIC_ASSETS_DUCKLAKE_DATA_PATH", "DuckLake's Parquet files: a folder or `s3://` URL",
    "`ducklake/` below the store", "path or URL",
)  # fmt: skip
#: The standard AWS variables, by the field of DuckDB's S3 secret each fills (DuckLake on s3://).
S3_CREDENTIALS = {
    field: Variable(
        name, f"S3 {meaning} for DuckLake's `s3://` data path", "DuckDB's default", unit
    )
    for field, name, meaning, unit in (
        ("KEY_ID", "AWS_ACCESS_KEY_ID", "access key", "text"),
        ("SECRET", "AWS_SECRET_ACCESS_KEY", "secret key", "text"),
        ("SESSION_TOKEN", "AWS_SESSION_TOKEN", "session token", "text"),
        ("REGION", "AWS_REGION", "region", "name"),
        ("ENDPOINT", "AWS_ENDPOINT_URL", "endpoint (`http://` turns SSL off)", "URL"),
    )
}
FIGURE_PNG = Variable(
    "IONIC_ASSETS_FIGURE_PNG", "`0`, `false`, `no` or `off`: figures as HTML only, no PNG",
    "`1`", "flag",
)  # fmt: skip
PNG_TIMEOUT = Variable(
    "IONIC_ASSETS_PNG_TIMEOUT_S", "time allowed to render one figure's PNG", "`120`", "s",
)  # fmt: skip
MD_ENGINE = Variable(
    "IONIC_ASSETS_MD_ENGINE",
    "MD engine for ML potentials: `auto` (batched with torch-sim where the measured rate says it "
    "pays on the device), `torch-sim` or `ase` (see `science/md/choice.py`)",
    "`auto`",
    "name",
)
MD_PARTITIONS_PER_RUN = Variable(
    "IONIC_ASSETS_MD_PARTITIONS_PER_RUN",
    "most partitions of a batchable force model's `md_trajectories` one backfill run (one "
    "batch, one GPU pod) takes; the paper's 21 materials x 5 temperatures by default",
    "`105`",
    "count",
)
BROWSER_PATH = Variable(
    "BROWSER_PATH", "Chrome/Chromium executable for PNG export (kaleido's variable)",
    "Debian's `chromium`, else choreographer's search", "path",
)  # fmt: skip

VARIABLES: tuple[Variable, ...] = (
    HOME, STORAGE_URL, OBELIX_DATA_DIR, DAGSTER_HOME, PROTOCOL, METHODS_FILE, PROTOCOLS_FILE,
    EXECUTOR, K8S_IMAGE, K8S_ENGINE_IMAGE, K8S_NAMESPACE, *POOL_SETTINGS.values(),
    VASP_COMMAND, ASE_VASP_COMMAND, VASP_PP_PATH, VASP_VERSION, CP2K_DATA_DIR,
    WAREHOUSE, DUCKLAKE_CATALOG, DUCKLAKE_DATA_PATH, *S3_CREDENTIALS.values(),
    FIGURE_PNG, PNG_TIMEOUT, MD_ENGINE, MD_PARTITIONS_PER_RUN, BROWSER_PATH,
)  # fmt: skip


def home_dir() -> Path:
    """IONIC_ASSETS_HOME (created if missing)."""
    home = Path(HOME.read() or PROJECT_ROOT / "data" / "home")
    home.mkdir(parents=True, exist_ok=True)
    return home


def dagster_home() -> Path:
    """DAGSTER_HOME, else IONIC_ASSETS_HOME/dagster."""
    return Path(DAGSTER_HOME.read() or home_dir() / "dagster")


def storage_url() -> str:
    """IONIC_ASSETS_STORAGE_URL, else the local IONIC_ASSETS_HOME."""
    return STORAGE_URL.read() or str(home_dir())


def obelix_dir() -> Path:
    return Path(OBELIX_DATA_DIR.read() or PROJECT_ROOT / "data" / "obelix")


def protocol_name() -> str:
    return PROTOCOL.read() or "paper"


def methods_file(default: Path) -> Path:
    return Path(METHODS_FILE.read() or default)


def md_engine() -> str:
    return MD_ENGINE.read() or "auto"


def md_partitions_per_run() -> int:
    """IONIC_ASSETS_MD_PARTITIONS_PER_RUN, a whole number >= 1."""
    value = MD_PARTITIONS_PER_RUN.read() or "105"
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{MD_PARTITIONS_PER_RUN.name}: a whole number >= 1, not {value!r}")
    return int(value)


def load_md_protocol(
    name: str | None = None, protocols_file: str | None = None
) -> protocols.Protocol:
    """The MD protocol `name` (default: `protocol_name()`) from `protocols_file` (default:
    IONIC_ASSETS_PROTOCOLS_FILE, else the package's)."""
    path = protocols_file or PROTOCOLS_FILE.read()
    return protocols.load_protocol(name or protocol_name(), path)


def warehouse_backend() -> str:
    """IONIC_ASSETS_WAREHOUSE: `duckdb` (default) or `ducklake`."""
    return (WAREHOUSE.read() or "duckdb").strip().lower() or "duckdb"


def ducklake_catalog() -> str:
    """IONIC_ASSETS_DUCKLAKE_CATALOG: libpq connection string (default dbname=ionic_warehouse)."""
    return DUCKLAKE_CATALOG.read() or "dbname=ionic_warehouse"


def ducklake_data_path(default: str) -> str:
    """IONIC_ASSETS_DUCKLAKE_DATA_PATH, else `default` (the store's `ducklake/` folder)."""
    return DUCKLAKE_DATA_PATH.read() or default

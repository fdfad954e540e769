"""Every environment variable the platform reads, declared once, read when used.

Each `Variable` carries its name, meaning, unit, its one typed default and the parser of its
text; `VARIABLE.value()` is the getter (a bad value is one InputError naming the variable).
`docs/configuration.md` is generated from these declarations (`python -m
ionic_assets.lib.settings` rewrites it; a test keeps it equal). Nothing is read at import time:
a variable set after import takes effect.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ionic_assets.science import protocols
from ionic_assets.science.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_DIR.parent
REFERENCE_FILE = PROJECT_ROOT / "docs" / "configuration.md"


@dataclass(frozen=True)
class Variable[T]:
    """One environment variable. `<PART>` in a name stands for a value (`IMAGE_<ENGINE>`).

    `default` is the value when the variable is unset or blank (None: no value); `shown_default`
    describes it in the reference where it is derived from something else or absent.
    """

    name: str
    meaning: str
    parse: Callable[[str], T]
    default: T | None = None
    unit: str = "-"
    shown_default: str | None = None

    def read(self, **parts: str) -> str | None:
        """The variable's text now, None when unset or empty; `parts` fill the `<PART>`s."""
        name = self.name
        for part, value in parts.items():
            name = name.replace(f"<{part.upper()}>", value.upper())
        return os.environ.get(name) or None

    def value(self, **parts: str) -> T | None:
        """The parsed value now, `default` when unset or blank; InputError when it does not
        parse."""
        text = self.read(**parts)
        if text is None or not text.strip():
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise InputError(f"{self.name}: {exc}") from None

    def default_text(self) -> str:
        """The default as the reference shows it."""
        if self.shown_default is not None:
            return self.shown_default
        return f"`{_shown(self.default)}`"


def _shown(value: Any) -> str:
    """A default as text: project paths relative to the checkout, JSON as JSON."""
    if isinstance(value, Path):
        return str(value.relative_to(PROJECT_ROOT) if value.is_relative_to(PROJECT_ROOT) else value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _name(text: str) -> str:
    """A name-like value: blanks around it dropped, lower case."""
    return text.strip().lower()


def _flag(text: str) -> bool:
    """False for `0`, `false`, `no`, `off` (any case); True otherwise."""
    return _name(text) not in {"0", "false", "no", "off"}


def _count(text: str) -> int:
    """A whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"a whole number >= 1, not {text!r}")
    return int(text)


def _whole(text: str) -> int:
    """A whole number >= 0."""
    if not text.isdigit():
        raise ValueError(f"a whole number >= 0, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    """A duration in seconds, >= 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"seconds >= 0, not {text!r}")
    return seconds


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc}): {text!r}") from None


HOME = Variable(
    "IONIC_ASSETS_HOME", "data home: `ionic.duckdb`, `trajectories/`, `reports/`", Path,
    PROJECT_ROOT / "data" / "home", "path",
)  # fmt: skip
STORAGE_URL = Variable(
    "IONIC_ASSETS_STORAGE_URL",
    "where `ionic.duckdb`, `trajectories/`, `reports/` go instead: a path or an fsspec URL "
    "(`s3://bucket/ionic` with the `s3` extra, `file://...`; see `deploy/README.md`)",
    str,
    unit="path or URL",
    shown_default="`IONIC_ASSETS_HOME`",
)
OBELIX_DATA_DIR = Variable(
    "OBELIX_DATA_DIR",
    "local OBELiX release (`all.csv`, `all_randomized_cifs/`), downloaded there when missing",
    Path, PROJECT_ROOT / "data" / "obelix", "path",
)  # fmt: skip
DAGSTER_HOME = Variable(
    "DAGSTER_HOME", "Dagster instance (runs, events, partitions; SQLite locally)", Path,
    unit="path", shown_default="`$IONIC_ASSETS_HOME/dagster` for the CLI",
)  # fmt: skip
PROTOCOL = Variable(
    "IONIC_ASSETS_PROTOCOL",
    "MD protocol used when a run does not say (`paper`, `adaptive`, `smoke`)", str, "paper",
    "name",
)  # fmt: skip
METHODS_FILE = Variable(
    "IONIC_ASSETS_METHODS_FILE", "another methods file with the layout of `config/methods.yaml`",
    Path, PACKAGE_DIR / "config" / "methods.yaml", "path",
)  # fmt: skip
PROTOCOLS_FILE = Variable(
    "IONIC_ASSETS_PROTOCOLS_FILE",
    "another protocols file with the layout of `config/protocols.yaml`", Path,
    protocols.DEFAULT_PATH, "path",
)  # fmt: skip
EXECUTOR = Variable(
    "IONIC_ASSETS_EXECUTOR", "step executor: `local` (Dagster's default) or `k8s` (a Job per step)",
    _name, "local", "name",
)  # fmt: skip
K8S_IMAGE = Variable(
    "IONIC_ASSETS_K8S_IMAGE", "image of every step pod", str, unit="image",
    shown_default="the code location's image",
)  # fmt: skip
K8S_ENGINE_IMAGE = Variable(
    "IONIC_ASSETS_K8S_IMAGE_<ENGINE>",
    "image of the `md_trajectories` steps of the methods whose engine is `<ENGINE>` "
    "(`MACE`, `CHGNET`, `SEVENN`, `VASP`, `CP2K`)",
    str,
    unit="image",
    shown_default="`IONIC_ASSETS_K8S_IMAGE`",
)
K8S_NAMESPACE = Variable(
    "IONIC_ASSETS_K8S_NAMESPACE", "namespace of the step Jobs", str, unit="name",
    shown_default="the run launcher's",
)  # fmt: skip
K8S_PENDING_TIMEOUT = Variable(
    "IONIC_ASSETS_K8S_PENDING_TIMEOUT_S",
    "a step pod that no node can take (unschedulable) fails its step after this long, with the "
    "scheduler's reason",
    _seconds, 600.0, "s",
)  # fmt: skip
STEP_POD_KEY = Variable(
    "DAGSTER_RUN_STEP_KEY",
    "set by dagster-k8s in each step pod (never by hand): there a SIGTERM retries the MD step "
    "(`defs/preemption.py`)", str, unit="step key", shown_default="unset outside step pods",
)  # fmt: skip
#: Where the step pods of each pool (lib/k8s.py) are scheduled unless the deployment says.
POOL_DEFAULTS: dict[tuple[str, str], Any] = {
    ("gpu", "node_selector"): {"ionic-assets/pool": "gpu"},
    ("gpu", "tolerations"): [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ],
    ("cpu", "node_selector"): {"ionic-assets/pool": "cpu"},
    ("cpu", "tolerations"): [],
}
POOL_SETTINGS = {
    (pool, what): Variable(
        f"IONIC_ASSETS_{pool.upper()}_{what.upper()}",
        f"{what.replace('_', ' ')} of the {pool.upper()} pool's step pods (`lib/k8s.py`)",
        _json,
        default,
        "JSON",
    )
    for (pool, what), default in POOL_DEFAULTS.items()
}
VASP_COMMAND = Variable(
    "VASP_COMMAND", "how to run VASP (`{ncores}` is replaced by the CPU count), `dft-vasp`", str,
    unit="command", shown_default="unset: `dft-vasp` fails at once",
)  # fmt: skip
ASE_VASP_COMMAND = Variable(
    "ASE_VASP_COMMAND", "ASE's name for the VASP command, used when set", str, unit="command",
    shown_default="`VASP_COMMAND`",
)  # fmt: skip
VASP_PP_PATH = Variable(
    "VASP_PP_PATH", "folder holding VASP's `potpaw_PBE/` POTCARs, `dft-vasp`", Path,
    unit="path", shown_default="unset: `dft-vasp` fails at once",
)  # fmt: skip
VASP_VERSION = Variable(
    "VASP_VERSION", "VASP version recorded with `dft-vasp` trajectories", str, "unknown", "text",
)  # fmt: skip
CP2K_DATA_DIR = Variable(
    "CP2K_DATA_DIR", "CP2K's basis sets and pseudopotentials (`dft-cp2k`; Debian's `cp2k-data`)",
    Path, Path("/usr/share/cp2k"), "path",
)  # fmt: skip
WAREHOUSE = Variable(
    "IONIC_ASSETS_WAREHOUSE",
    "where the tables live: `duckdb`, the file `ionic.duckdb` below a local store, no server; or "
    '`ducklake`, DuckLake with a PostgreSQL catalog, for many writers (see "Which warehouse")',
    _name,
    "duckdb",
    "name",
)
DUCKLAKE_CATALOG = Variable(
    "IONIC_ASSETS_DUCKLAKE_CATALOG",
    "DuckLake's catalog database, a libpq connection string (password from `PGPASSWORD`)",
    str,
    "dbname=ionic_warehouse",
    "libpq string",
)
DUCKLAKE_DATA_PATH = Variable(
    "IONIC_ASSETS_DUCKLAKE_DATA_PATH", "DuckLake's Parquet files: a folder or `s3://` URL", str,
    unit="path or URL", shown_default="`ducklake/` below the store",
)  # fmt: skip
WAREHOUSE_RECONNECT = Variable(
    "IONIC_ASSETS_WAREHOUSE_RECONNECT_S",
    "how long a warehouse read or write waits for its unreachable catalog server, reconnecting, "
    "before it fails",
    _seconds,
    60.0,
    "s",
)
#: The standard AWS variables, by the field of DuckDB's S3 secret each fills (DuckLake on s3://).
S3_CREDENTIALS = {
    field: Variable(
        name,
        f"S3 {meaning} for DuckLake's `s3://` data path",
        str,
        unit=unit,
        shown_default="DuckDB's default",
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
    _flag, True, "flag",
)  # fmt: skip
PNG_TIMEOUT = Variable(
    "IONIC_ASSETS_PNG_TIMEOUT_S", "time allowed to render one figure's PNG", float, 120.0, "s",
)  # fmt: skip
MD_ENGINE = Variable(
    "IONIC_ASSETS_MD_ENGINE",
    "MD engine for ML potentials: `auto` (batched with torch-sim where the measured rate says it "
    "pays on the device), `torch-sim` or `ase` (see `science/md/choice.py`)",
    str,
    "auto",
    "name",
)
MD_PARTITIONS_PER_RUN = Variable(
    "IONIC_ASSETS_MD_PARTITIONS_PER_RUN",
    "most partitions of a batchable force model's `md_trajectories` (and materials of its "
    "`relaxed_cells`) one backfill run (one batch, one GPU pod) takes; the paper's 21 "
    "materials x 5 temperatures by default",
    _count,
    105,
    "count",
)
STEP_RETRIES = Variable(
    "IONIC_ASSETS_STEP_RETRIES",
    "times an `md_trajectories` step whose process or pod was lost (preempted, deleted, killed) "
    "is run again, resuming from its last checkpoint; a user error is never retried",
    _whole,
    2,
    "count",
)
STEP_RETRY_DELAY = Variable(
    "IONIC_ASSETS_STEP_RETRY_DELAY_S",
    "wait before the first retry of a lost step (doubling for each next one, +-50 % jitter)",
    _seconds,
    10.0,
    "s",
)
BROWSER_PATH = Variable(
    "BROWSER_PATH", "Chrome/Chromium executable for PNG export (kaleido's variable)", str,
    unit="path", shown_default="Debian's `chromium`, else choreographer's search",
)  # fmt: skip

VARIABLES: tuple[Variable, ...] = (
    HOME, STORAGE_URL, OBELIX_DATA_DIR, DAGSTER_HOME, PROTOCOL, METHODS_FILE, PROTOCOLS_FILE,
    EXECUTOR, K8S_IMAGE, K8S_ENGINE_IMAGE, K8S_NAMESPACE, K8S_PENDING_TIMEOUT, STEP_POD_KEY,
    *POOL_SETTINGS.values(),
    VASP_COMMAND, ASE_VASP_COMMAND, VASP_PP_PATH, VASP_VERSION, CP2K_DATA_DIR,
    WAREHOUSE, DUCKLAKE_CATALOG, DUCKLAKE_DATA_PATH, WAREHOUSE_RECONNECT, *S3_CREDENTIALS.values(),
    FIGURE_PNG, PNG_TIMEOUT, MD_ENGINE, MD_PARTITIONS_PER_RUN, STEP_RETRIES, STEP_RETRY_DELAY,
    BROWSER_PATH,
)  # fmt: skip


def home_dir() -> Path:
    """IONIC_ASSETS_HOME (created if missing)."""
    home = HOME.value()
    home.mkdir(parents=True, exist_ok=True)
    return home


def dagster_home() -> Path:
    """DAGSTER_HOME, else IONIC_ASSETS_HOME/dagster."""
    return DAGSTER_HOME.value() or home_dir() / "dagster"


def storage_url() -> str:
    """IONIC_ASSETS_STORAGE_URL, else the local IONIC_ASSETS_HOME."""
    return STORAGE_URL.value() or str(home_dir())


def load_md_protocol(
    name: str | None = None, protocols_file: str | None = None
) -> protocols.Protocol:
    """The MD protocol `name` (default: IONIC_ASSETS_PROTOCOL) from `protocols_file` (default:
    IONIC_ASSETS_PROTOCOLS_FILE)."""
    return protocols.load_protocol(
        name or PROTOCOL.value(), protocols_file or PROTOCOLS_FILE.value()
    )


def reference_table() -> str:
    """The Markdown table of every declared variable: name, meaning, default, unit."""
    lines = ["| variable | meaning | default | unit |", "| --- | --- | --- | --- |"]
    for v in VARIABLES:
        lines.append(f"| `{v.name}` | {v.meaning} | {v.default_text()} | {v.unit} |")
    return "\n".join(lines) + "\n"


def reference() -> str:
    """The text of `docs/configuration.md`."""
    return (
        "# Configuration\n\n"
        "Every environment variable the platform reads, generated from its declaration in "
        "`ionic_assets/lib/settings.py` (`python -m ionic_assets.lib.settings` rewrites this "
        "file). A variable is read when it is used, so a value set after import counts.\n\n"
        + reference_table()
    )


if __name__ == "__main__":
    REFERENCE_FILE.write_text(reference())
    print(f"wrote {REFERENCE_FILE}", file=sys.stderr)

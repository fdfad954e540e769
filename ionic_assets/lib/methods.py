"""The benchmarked methods, read from the checked-in `config/methods.yaml`.

`IONIC_ASSETS_METHODS_FILE` points at another file with the same layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ionic_assets.science.errors import InputError

DEFAULT_METHODS_FILE = Path(__file__).resolve().parents[1] / "config" / "methods.yaml"
#: Method kinds with a trajectory builder. DFT and imported AIMD methods are not wired yet.
KINDS = ("mlip",)


@dataclass(frozen=True)
class Method:
    """A named force model plus its settings."""

    name: str
    kind: str
    description: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Asset-key prefix and group name: Dagster names take no hyphens."""
        return self.name.replace("-", "_")

    @property
    def uses_gpu(self) -> bool:
        return self.kind == "mlip"


def methods_file() -> Path:
    return Path(os.environ.get("IONIC_ASSETS_METHODS_FILE", DEFAULT_METHODS_FILE))


def load_methods(path: Path | None = None) -> dict[str, Method]:
    path = path or methods_file()
    try:
        entries = yaml.safe_load(path.read_text())["methods"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InputError(
            f"methods file {path}: unreadable or without a 'methods' map ({exc})"
        ) from exc
    methods = {}
    for name, entry in entries.items():
        entry = dict(entry)
        kind = entry.pop("kind", None)
        if kind not in KINDS:
            raise InputError(f"method {name}: kind must be one of {', '.join(KINDS)}, not {kind}")
        methods[name] = Method(name, kind, entry.pop("description", ""), entry)
    return methods


def get_methods(names: list[str] | None = None) -> list[Method]:
    """The named methods (all when `names` is None); an unknown name is one clear error."""
    methods = load_methods()
    if names is None:
        return list(methods.values())
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise InputError(f"unknown method(s): {', '.join(unknown)} (known: {', '.join(methods)})")
    return [methods[n] for n in names]

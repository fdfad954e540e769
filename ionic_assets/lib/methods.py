"""The benchmarked methods, read from the checked-in `config/methods.yaml`.

`IONIC_ASSETS_METHODS_FILE` points at another file with the same layout. Three kinds:

    mlip      an ML potential (`model`: family, name or path, dtype), run on a GPU pod
    dft       ab initio MD with a DFT `engine` (vasp | cp2k; cp2k takes `settings` overrides),
              run on a CPU pod sized by the system (lib/k8s.py)
    imported  trajectories computed elsewhere, registered per (material, temperature) in
              `trajectories` and copied into the platform's format (see `ImportedTrajectory`)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ionic_assets.lib import settings
from ionic_assets.science import dft
from ionic_assets.science.errors import InputError

DEFAULT_METHODS_FILE = Path(__file__).resolve().parents[1] / "config" / "methods.yaml"
KINDS = ("mlip", "dft", "imported")


@dataclass(frozen=True)
class ImportedTrajectory:
    """One registered trajectory of an `imported` method.

    Attributes:
        material_id, temperature_K: the partition it fills.
        path: the file (VASP XDATCAR or vasprun.xml, extxyz, ASE .traj, platform .h5); a
            relative path is relative to the methods file.
        format: as `trajectory_import.load_trajectory` names it (guessed from the name if None).
        timestep_fs, frame_stride: MD time step and steps between stored frames, for formats
            that do not carry them.
        equilibration_ps: initial time discarded before analysis (None: the protocol's).
        wall_time_s, n_cpus, n_gpus: what the run cost where it was computed (Table 1).
    """

    material_id: str
    temperature_K: float
    path: Path
    format: str | None = None
    timestep_fs: float | None = None
    frame_stride: int | None = None
    equilibration_ps: float | None = None
    wall_time_s: float | None = None
    n_cpus: int | None = None
    n_gpus: int | None = None


@dataclass(frozen=True)
class Method:
    """A named way of producing trajectories, plus its settings."""

    name: str
    kind: str
    description: str = ""
    settings: dict = field(default_factory=dict)
    trajectories: tuple[ImportedTrajectory, ...] = ()

    @property
    def key(self) -> str:
        """Asset-key prefix and group name: Dagster names take no hyphens."""
        return self.name.replace("-", "_")

    @property
    def uses_gpu(self) -> bool:
        return self.kind == "mlip"

    @property
    def engine(self) -> str:
        """What makes the trajectories: the model family, DFT engine, or "imported"."""
        if self.kind == "mlip":
            return str(self.settings["model"]["family"])
        return str(self.settings["engine"]) if self.kind == "dft" else "imported"

    def imported(self, material_id: str, temperature_K: float) -> ImportedTrajectory:
        """The registered trajectory of a partition; InputError if there is none."""
        for entry in self.trajectories:
            if entry.material_id == material_id and entry.temperature_K == temperature_K:
                return entry
        raise InputError(
            f"method {self.name}: no trajectory registered for {material_id} at "
            f"{temperature_K:g} K (add it under `trajectories` in {methods_file()})"
        )


def methods_file() -> Path:
    return settings.methods_file(DEFAULT_METHODS_FILE)


def load_methods(path: Path | None = None) -> dict[str, Method]:
    path = path or methods_file()
    try:
        entries = yaml.safe_load(path.read_text())["methods"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InputError(
            f"methods file {path}: unreadable or without a 'methods' map ({exc})"
        ) from exc
    return {name: _method(name, dict(entry), path.parent) for name, entry in entries.items()}


def _method(name: str, entry: dict, base: Path) -> Method:
    kind = entry.pop("kind", None)
    if kind not in KINDS:
        raise InputError(f"method {name}: kind must be one of {', '.join(KINDS)}, not {kind}")
    description = entry.pop("description", "")
    if kind == "mlip" and not isinstance(entry.get("model"), dict):
        raise InputError(f"method {name}: an mlip method needs a `model` map (family, name)")
    if kind == "dft" and entry.get("engine") not in dft.ENGINES:
        raise InputError(
            f"method {name}: engine must be one of {', '.join(dft.ENGINES)}, "
            f"not {entry.get('engine')}"
        )
    trajectories = ()
    if kind == "imported":
        trajectories = tuple(_imported(name, t, base) for t in entry.pop("trajectories", []))
    return Method(name, kind, description, entry, trajectories)


def _imported(method: str, entry: dict, base: Path) -> ImportedTrajectory:
    try:
        entry = {**entry, "temperature_K": float(entry["temperature_K"])}
        trajectory = ImportedTrajectory(**entry)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"method {method}: trajectory entry {entry} needs material_id, temperature_K and "
            f"path, and only the fields of ImportedTrajectory ({exc})"
        ) from exc
    path = Path(trajectory.path).expanduser()
    return dataclasses.replace(trajectory, path=path if path.is_absolute() else base / path)


def get_methods(names: list[str] | None = None) -> list[Method]:
    """The named methods (all when `names` is None); an unknown name is one clear error."""
    methods = load_methods()
    if names is None:
        return list(methods.values())
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise InputError(f"unknown method(s): {', '.join(unknown)} (known: {', '.join(methods)})")
    return [methods[n] for n in names]

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
from ionic_assets.science import dft, forcefields, protocols
from ionic_assets.science.dft.vasp import VaspInstallation
from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import BATCHABLE_FAMILIES

KINDS = ("mlip", "dft", "imported")
#: The protocol an imported method's trajectories are recorded under (computed elsewhere).
IMPORTED_PROTOCOL = "imported"


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

    @property
    def batchable(self) -> bool:
        """Whether its MD can run batched with torch-sim (its package ships a wrapper)."""
        return self.kind == "mlip" and self.engine in BATCHABLE_FAMILIES

    def relax(self, relax: protocols.Relax) -> protocols.Relax:
        """The protocol's relaxation before MD as this method runs it: an ML potential as the
        protocol says; a DFT method with its own engine only when it sets `relax_with_dft: true`
        (a DFT relaxation costs hours), else mode "none"."""
        if self.kind == "dft" and not self.settings.get("relax_with_dft", False):
            return dataclasses.replace(relax, mode="none")
        return relax

    def protocol_name(self, run_protocol: str) -> str:
        """The protocol this method's trajectories are recorded under in a run of
        `run_protocol`: that one, or `IMPORTED_PROTOCOL` for an imported method."""
        return IMPORTED_PROTOCOL if self.kind == "imported" else run_protocol

    def imported(self, material_id: str, temperature_K: float) -> ImportedTrajectory:
        """The registered trajectory of a partition; InputError if there is none."""
        for entry in self.trajectories:
            if entry.material_id == material_id and entry.temperature_K == temperature_K:
                return entry
        raise InputError(
            f"method {self.name}: no trajectory registered for {material_id} at "
            f"{temperature_K:g} K (add it under `trajectories` in {settings.METHODS_FILE.value()})"
        )


def load_methods(path: Path | None = None) -> dict[str, Method]:
    """Every method of the methods file, each field checked as it is read: one InputError
    naming the file, the method and the key otherwise."""
    path = path or settings.METHODS_FILE.value()
    try:
        entries = yaml.safe_load(path.read_text())["methods"]
        names = list(entries)
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise InputError(
            f"methods file {path}: unreadable or without a 'methods' map ({exc})"
        ) from exc
    try:
        return {name: _method(str(name), entries[name], path.parent) for name in names}
    except InputError as exc:
        raise InputError(f"methods file {path}: {exc}") from None


#: The keys a method of each kind may have, besides kind, description and resources.
KIND_KEYS = {
    "mlip": {"model"},
    "dft": {"engine", "settings", "cadence", "relax_with_dft"},
    "imported": {"trajectories"},
}
RESOURCE_KEYS = ("cpu", "memory", "gpu")


def _method(name: str, entry, base: Path) -> Method:
    if not isinstance(entry, dict):
        raise InputError(f"method {name}: must be a map of settings, not {entry!r}")
    entry = dict(entry)
    kind = entry.pop("kind", None)
    if kind not in KINDS:
        raise InputError(f"method {name}: kind must be one of {', '.join(KINDS)}, not {kind}")
    description = entry.pop("description", "")
    unknown = sorted(set(entry) - KIND_KEYS[kind] - {"resources"})
    if unknown:
        allowed = ", ".join(sorted(KIND_KEYS[kind] | {"resources"}))
        raise InputError(f"method {name}: unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
    _check_resources(name, entry.get("resources", {}))
    if kind == "mlip":
        _check_model(name, entry.get("model"))
    if kind == "dft":
        _check_dft(name, entry)
    trajectories = ()
    if kind == "imported":
        trajectories = tuple(_imported(name, t, base) for t in entry.pop("trajectories", []))
    return Method(name, kind, description, entry, trajectories)


def _check_resources(name: str, resources) -> None:
    if not isinstance(resources, dict) or set(resources) - set(RESOURCE_KEYS):
        raise InputError(
            f"method {name}: resources must be a map of {', '.join(RESOURCE_KEYS)}, not {resources}"
        )
    gpu = resources.get("gpu", 0)
    if not (isinstance(gpu, int) and not isinstance(gpu, bool) and gpu >= 0):
        raise InputError(f"method {name}: resources.gpu must be a whole number >= 0, not {gpu!r}")


def _check_model(name: str, model) -> None:
    if not isinstance(model, dict):
        raise InputError(f"method {name}: an mlip method needs a `model` map (family, name)")
    try:
        forcefields.ModelSpec.from_dict(model)
    except (InputError, TypeError) as exc:
        raise InputError(f"method {name}: model: {exc}") from None


def _check_dft(name: str, entry: dict) -> None:
    if entry.get("engine") not in dft.ENGINES:
        raise InputError(
            f"method {name}: engine must be one of {', '.join(dft.ENGINES)}, "
            f"not {entry.get('engine')}"
        )
    try:
        dft.check_settings(entry["engine"], entry.get("settings"))
    except (InputError, TypeError) as exc:
        raise InputError(f"method {name}: settings: {exc}") from None
    if not isinstance(entry.get("relax_with_dft", False), bool):
        raise InputError(
            f"method {name}: relax_with_dft must be true or false, not {entry['relax_with_dft']!r}"
        )
    cadence = entry.get("cadence", {})
    if not isinstance(cadence, dict) or set(cadence) - set(protocols.CADENCE_FIELDS):
        raise InputError(
            f"method {name}: cadence must be a map of {', '.join(protocols.CADENCE_FIELDS)} "
            f"(steps), not {cadence}"
        )
    for key, steps in cadence.items():
        if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
            raise InputError(
                f"method {name}: cadence.{key} must be a whole number of steps >= 1, not {steps!r}"
            )


#: Allowed ranges of the numeric fields of an imported trajectory (unit in the name).
IMPORTED_RANGES = {
    "temperature_K": (float, 0.0, False),
    "timestep_fs": (float, 0.0, False),
    "frame_stride": (int, 1, True),
    "equilibration_ps": (float, 0.0, True),
    "wall_time_s": (float, 0.0, True),
    "n_cpus": (int, 1, True),
    "n_gpus": (int, 0, True),
}


def _check_range(method: str, key: str, value) -> None:
    kind, low, inclusive = IMPORTED_RANGES[key]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        number = number and float(value).is_integer()
    if not (number and (value >= low if inclusive else value > low)):
        bound = f"{'>=' if inclusive else '>'} {low:g}"
        what = "a whole number" if kind is int else "a number"
        raise InputError(
            f"method {method}: trajectories.{key} must be {what} {bound}, not {value!r}"
        )


def _imported(method: str, entry: dict, base: Path) -> ImportedTrajectory:
    try:
        entry = {**entry, "temperature_K": float(entry["temperature_K"])}
        trajectory = ImportedTrajectory(**entry)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"method {method}: trajectory entry {entry} needs material_id, temperature_K and "
            f"path, and only the fields of ImportedTrajectory ({exc})"
        ) from exc
    for key in IMPORTED_RANGES:
        if getattr(trajectory, key) is not None:
            _check_range(method, key, getattr(trajectory, key))
    path = Path(trajectory.path).expanduser()
    return dataclasses.replace(trajectory, path=path if path.is_absolute() else base / path)


def dft_installation() -> dft.DftInstallation:
    """Where the DFT engines are installed here, from the settings (read now)."""
    vasp = VaspInstallation(
        command=settings.ASE_VASP_COMMAND.value() or settings.VASP_COMMAND.value(),
        pp_path=settings.VASP_PP_PATH.value(),
        version=settings.VASP_VERSION.value(),
    )
    return dft.DftInstallation(vasp, settings.CP2K_DATA_DIR.value())


def check_runnable(method: Method) -> None:
    """InputError at once when `method` cannot run here: an MLIP package or weights file that
    is missing, a DFT engine that is not installed, a registered trajectory file that is absent."""
    if method.kind == "mlip":
        forcefields.check_available(forcefields.ModelSpec.from_dict(method.settings["model"]))
    elif method.kind == "dft":
        dft.check_available(method.engine, dft_installation())
    for entry in method.trajectories:
        if not entry.path.is_file():
            raise InputError(f"method {method.name}: trajectory file {entry.path} not found")


def get_methods(names: list[str] | None = None) -> list[Method]:
    """The named methods (all when `names` is None); an unknown name is one clear error."""
    methods = load_methods()
    if names is None:
        return list(methods.values())
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise InputError(f"unknown method(s): {', '.join(unknown)} (known: {', '.join(methods)})")
    return [methods[n] for n in names]

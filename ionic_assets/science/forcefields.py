"""Force-model registry: one way to name, load and identify the MLIPs the platform runs.

A method config names its model as ``model: {family: mace, name: medium-mpa-0}``, optionally with
``path:`` (a local weights file, which then wins over the name) and ``dtype:``. `build_calculator`
turns that into an ASE calculator plus an `identity` that is recorded with every trajectory: the
package and its version, the weights file and its SHA-256, dtype and device.

Families:
  mace    foundation models by their `mace_mp` name, or any local MACE model file. Named weights
          are found or downloaded by mace's own `download_mace_mp_checkpoint` (what `mace_mp`
          uses; cache ``$XDG_CACHE_HOME/mace`` or ``~/.cache/mace``) and loaded with
          `MACECalculator`, which lets cuEquivariance be enabled on CUDA. Offline and not cached:
          InputError within seconds, asking for ``path:``.
  chgnet  the checkpoints shipped inside the chgnet wheel ("0.3.0", "0.2.0", "r2scan").
  sevenn  the checkpoints shipped inside the sevenn wheel ("7net-0", "7net-l3i5", ...).

Energies are in eV, forces in eV/Angstrom (ASE units).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from ionic_assets.science.errors import InputError

FAMILIES = ("mace", "chgnet", "sevenn")
DTYPES = ("float32", "float64")
DEFAULT_NAMES = {"mace": "medium-mpa-0", "chgnet": "0.3.0", "sevenn": "7net-0"}
PACKAGES = {"mace": "mace-torch", "chgnet": "chgnet", "sevenn": "sevenn"}

# Paths inside the chgnet package, as in `CHGNet.load` (which keeps its table private).
CHGNET_CHECKPOINTS = {
    "0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
    "0.2.0": "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
    "r2scan": "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
}

# A download that cannot connect within this many seconds is treated as "offline": mace's own
# downloader would otherwise wait up to 120 s on a firewalled network.
NETWORK_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelSpec:
    """Which force model to load.

    Attributes:
        family: "mace", "chgnet" or "sevenn".
        name: the family's model name ("medium-mpa-0", "0.3.0", "7net-0"); with `path`, a label.
        path: a local weights file; when given it is loaded instead of the named model.
        dtype: floating-point precision of the model ("float32" for MD; only MACE offers float64).
    """

    family: str
    name: str | None = None
    path: str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(
                f"unknown force-model family {self.family!r} (known: {', '.join(FAMILIES)})"
            )
        if self.dtype not in DTYPES:
            raise InputError(f"model dtype {self.dtype!r} not one of {', '.join(DTYPES)}")
        if self.dtype != "float32" and self.family != "mace":
            raise InputError(f"{self.family} models run in float32 only, not {self.dtype}")

    @classmethod
    def from_dict(cls, config: dict) -> ModelSpec:
        """Build from a method config's ``model:`` mapping (keys family, name, path, dtype)."""
        unknown = set(config) - {"family", "name", "path", "dtype"}
        if unknown:
            raise InputError(f"model config: unknown keys {sorted(unknown)}")
        if "family" not in config:
            raise InputError("model config: 'family' is required")
        return cls(**config)

    @property
    def label(self) -> str:
        """The model's name for messages and identity: the name, else the file, else the default."""
        if self.name:
            return self.name
        return Path(self.path).name if self.path else DEFAULT_NAMES[self.family]


@dataclass(frozen=True)
class LoadedModel:
    """An ASE calculator ready for MD, with what identifies it.

    Attributes:
        calculator: the ASE calculator.
        device: the torch device it runs on ("cpu", "cuda", "cuda:1").
        identity: family, name, package, package_version, weights_path, weights_sha256, dtype,
            device: recorded with every trajectory made with this model.
        atomic_numbers: the elements the model covers.
    """

    calculator: Calculator
    device: str
    identity: dict
    atomic_numbers: frozenset[int]


def resolve_device(device: str = "auto") -> str:
    """Resolve "auto" to "cuda" when a CUDA GPU is visible, else "cpu"; check "cuda[:N]" exists."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but no CUDA GPU is available")
        index, count = device.partition(":")[2] or "0", torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise InputError(f"device {device!r} requested but {count} GPU(s) exist")
        return device
    raise InputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)")


def check_available(spec: ModelSpec) -> None:
    """InputError at once when the model cannot load here: its package is not installed or its
    weights file (`path`) does not exist. Named MACE weights are looked for when loading."""
    package = PACKAGES[spec.family]
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            f"{spec.family} model {spec.label!r}: package {package} not installed"
        ) from None
    if spec.path is not None and not Path(spec.path).is_file():
        raise InputError(f"{spec.family} model {spec.label!r}: weights file {spec.path} not found")


def build_calculator(spec: ModelSpec, device: str = "auto") -> LoadedModel:
    """Load the model of `spec` on `device` and return it with its identity.

    Raises InputError for an unknown model name, a missing weights file, a device that does not
    exist, or MACE foundation weights that are neither cached nor downloadable.
    """
    device = resolve_device(device)
    check_available(spec)
    loader = {"mace": _load_mace, "chgnet": _load_chgnet, "sevenn": _load_sevenn}[spec.family]
    calculator, weights_path, numbers = loader(spec, device)
    identity = {
        "family": spec.family,
        "name": spec.label,
        "package": PACKAGES[spec.family],
        "package_version": importlib.metadata.version(PACKAGES[spec.family]),
        "weights_path": str(weights_path),
        "weights_sha256": file_sha256(weights_path),
        "dtype": spec.dtype,
        "device": device,
    }
    return LoadedModel(calculator, device, identity, frozenset(numbers))


def check_elements(model: ModelSpec | LoadedModel, atoms: Atoms) -> None:
    """Raise InputError naming the elements of `atoms` that `model` does not cover.

    A `ModelSpec` is loaded on the CPU to read its element table.
    """
    loaded = model if isinstance(model, LoadedModel) else build_calculator(model, device="cpu")
    missing = sorted(set(atoms.numbers.tolist()) - loaded.atomic_numbers)
    if missing:
        symbols = ", ".join(chemical_symbols[z] for z in missing)
        raise InputError(
            f"{loaded.identity['family']} model {loaded.identity['name']!r} "
            f"does not cover element(s) {symbols} of {atoms.get_chemical_formula()}"
        )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- MACE ---------------------------------------------------------------------------------


def _load_mace(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    from mace.calculators import MACECalculator

    path = Path(spec.path) if spec.path else _mace_foundation_weights(spec.label)
    # cuEquivariance kernels only exist for CUDA; on CPU the e3nn path is the fast one.
    cueq = device.startswith("cuda") and importlib.util.find_spec("cuequivariance_torch")
    try:
        calculator = MACECalculator(
            model_paths=str(path),
            device=device,
            default_dtype=spec.dtype,
            enable_cueq=bool(cueq),
        )
    except Exception as exc:  # torch.load / unpickling errors carry no file name
        raise InputError(f"mace model {spec.label!r}: cannot load {path}: {exc}") from exc
    for model in calculator.models:
        _restore_e3nn_sph_func(model)
    return calculator, path, [int(z) for z in calculator.z_table.zs]


def _restore_e3nn_sph_func(model) -> None:
    """Make a model pickled under e3nn 0.4 run under e3nn 0.5.

    The MACE foundation checkpoints were saved with e3nn 0.4, whose SphericalHarmonics computes
    in `forward` directly; e3nn 0.5 (needed here by SevenNet) calls `self.sph_func`, set in
    `__init__`, which unpickling skips. Set it as e3nn 0.5 does in eager mode.
    """
    from e3nn.o3 import SphericalHarmonics
    from e3nn.o3._spherical_harmonics import _spherical_harmonics

    for module in model.modules():
        if isinstance(module, SphericalHarmonics) and not hasattr(module, "sph_func"):
            module.sph_func = _spherical_harmonics


def mace_cached_weights_path(name: str) -> Path:
    """Where `mace_mp(name)` keeps the weights: next to the package or in mace's cache dir."""
    from mace.calculators import foundations_models as fm
    from mace.tools.utils import get_cache_dir

    if name == "medium-mpa-0" and os.path.isfile(fm.local_model_path):
        return Path(fm.local_model_path)
    basename = os.path.basename(fm.mace_mp_urls[name])
    return Path(get_cache_dir()) / "".join(c for c in basename if c.isalnum() or c == "_")


def _mace_foundation_weights(name: str) -> Path:
    from mace.calculators import foundations_models as fm

    if name not in fm.mace_mp_urls:
        raise InputError(
            f"unknown MACE foundation model {name!r} "
            f"(known: {', '.join(fm.mace_mp_urls)}; or set path: to a local model file)"
        )
    cached = mace_cached_weights_path(name)
    if cached.is_file():
        return cached
    url = fm.mace_mp_urls[name]
    offline = _unreachable(url)
    if offline:
        raise InputError(
            f"MACE model {name!r}: weights not in {cached.parent} and cannot be downloaded "
            f"({offline}); set path: in the model config to a local model file"
        )
    try:
        return Path(fm.download_mace_mp_checkpoint(name))
    except Exception as exc:
        raise InputError(
            f"MACE model {name!r}: download of {url} failed ({exc}); "
            "set path: in the model config to a local model file"
        ) from exc


def _unreachable(url: str) -> str | None:
    """Why `url`'s host (or the HTTPS proxy) cannot be reached quickly, or None if it can."""
    proxy = urllib.request.getproxies().get("https")
    target = urllib.parse.urlsplit(proxy or url)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=NETWORK_PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"no network: {host}:{port} unreachable: {exc}"


# --- CHGNet --------------------------------------------------------------------------------


def _load_chgnet(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    import chgnet
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    if spec.path:
        path = Path(spec.path)
        model = CHGNet.from_file(str(path))
    else:
        if spec.label not in CHGNET_CHECKPOINTS:
            raise InputError(
                f"unknown CHGNet model {spec.label!r} (known: {', '.join(CHGNET_CHECKPOINTS)})"
            )
        path = Path(chgnet.__file__).parent / CHGNET_CHECKPOINTS[spec.label]
        model = CHGNet.load(model_name=spec.label, use_device=device, verbose=False)
    calculator = CHGNetCalculator(model, use_device=device)
    # The atom embedding has one row per atomic number 1..n (94 for the shipped models).
    n_elements = model.atom_embedding.embedding.num_embeddings
    return calculator, path, list(range(1, n_elements + 1))


# --- SevenNet ------------------------------------------------------------------------------


def _load_sevenn(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    from sevenn import util
    from sevenn.calculator import SevenNetCalculator

    if spec.path:
        path = Path(spec.path)
    else:
        try:
            path = Path(util.pretrained_name_to_path(spec.label))
        except ValueError as exc:
            known = ", ".join(util.get_available_pretrained_models())
            raise InputError(f"unknown SevenNet model {spec.label!r} (known: {known})") from exc
        except Exception as exc:  # the few checkpoints not shipped in the wheel are downloaded
            raise InputError(
                f"SevenNet model {spec.label!r}: weights not shipped and download failed "
                f"({type(exc).__name__}); set path: in the model config to a local checkpoint"
            ) from exc
    calculator = SevenNetCalculator(str(path), device=device)
    return calculator, path, [int(z) for z in calculator.type_map]

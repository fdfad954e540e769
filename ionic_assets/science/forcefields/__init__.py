"""Force-model registry: one way to name, load and identify the MLIPs the platform runs.

A method config names its model as ``model: {family: mace, name: medium-mpa-0}``, optionally with
``path:`` (a local weights file, which then wins over the name) and ``dtype:``. `build_calculator`
turns that into an ASE calculator plus an `identity` that is recorded with every trajectory: the
package and its version, the weights file and its SHA-256, dtype and device. `torchsim_model`
gives the same model as a torch-sim model, for the batched MD engine, where its package ships one.

Families, one module each (loading, element coverage, torch-sim wrapper or none):
  mace    `mace`: foundation models by their `mace_mp` name or a local model file; torch-sim
          wrapper. `random_mace`: random-weight MACE models for offline tests and timing.
  chgnet  `chgnet`: the checkpoints shipped in the chgnet wheel; no torch-sim wrapper.
  sevenn  `sevennet`: the checkpoints shipped in the sevenn wheel; torch-sim wrapper.

Energies are in eV, forces in eV/Angstrom (ASE units).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from ionic_assets.science.errors import InputError
from ionic_assets.science.forcefields import chgnet, mace, sevennet

#: The family modules by the name a model config gives.
FAMILIES = {"mace": mace, "chgnet": chgnet, "sevenn": sevennet}
DTYPES = ("float32", "float64")
#: Families whose module has a torch-sim wrapper (`torchsim_model`), in the order messages list.
BATCHABLE_FAMILIES = ("sevenn", "mace")


@dataclass(frozen=True)
class ModelSpec:
    """Which force model to load.

    Attributes:
        family: "mace", "chgnet" or "sevenn".
        name: the family's model name ("medium-mpa-0", "0.3.0", "7net-0"); with `path`, a label.
        path: a local weights file; when given it is loaded instead of the named model.
        dtype: floating-point precision of the model ("float32" for MD; only MACE offers float64).
        modal: the fidelity of a multi-fidelity model ("PBE", "R2SCAN" for SevenNet-MF-0);
            only the sevenn family has them.
    """

    family: str
    name: str | None = None
    path: str | None = None
    dtype: str = "float32"
    modal: str | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(
                f"unknown force-model family {self.family!r} (known: {', '.join(FAMILIES)})"
            )
        if self.dtype not in DTYPES:
            raise InputError(f"model dtype {self.dtype!r} not one of {', '.join(DTYPES)}")
        family_dtypes = FAMILIES[self.family].DTYPES
        if self.dtype not in family_dtypes:
            raise InputError(
                f"{self.family} models run in {', '.join(family_dtypes)} only, not {self.dtype}"
            )
        if self.modal is not None and self.family != "sevenn":
            raise InputError(f"{self.family} models have no fidelities (modal: {self.modal})")

    @classmethod
    def from_dict(cls, config: dict) -> ModelSpec:
        """Build from a method config's ``model:`` mapping (family, name, path, dtype, modal)."""
        unknown = set(config) - {"family", "name", "path", "dtype", "modal"}
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
        return Path(self.path).name if self.path else FAMILIES[self.family].DEFAULT_NAME


@dataclass(frozen=True)
class LoadedModel:
    """An ASE calculator ready for MD, with what identifies it.

    Attributes:
        calculator: the ASE calculator.
        device: the torch device it runs on ("cpu", "cuda", "cuda:1").
        identity: family, name, package, package_version, weights_path, weights_sha256, dtype,
            device (and modal, for a multi-fidelity model): recorded with every trajectory made
            with this model.
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
    package = FAMILIES[spec.family].PACKAGE
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
    family = FAMILIES[spec.family]
    calculator, weights_path, numbers = family.load(spec, device)
    identity = {
        "family": spec.family,
        "name": spec.label,
        "package": family.PACKAGE,
        "package_version": importlib.metadata.version(family.PACKAGE),
        "weights_path": str(weights_path),
        "weights_sha256": file_sha256(weights_path),
        "dtype": spec.dtype,
        "device": device,
    }
    if spec.modal is not None:
        identity["modal"] = spec.modal
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


class NotBatchable(Exception):
    """The model cannot run in the batched engine; the message says why."""


def torchsim_model(model: LoadedModel):
    """The torch-sim `ModelInterface` of `model` on its device, through the wrapper its own
    package ships; NotBatchable if there is none (CHGNet, DFT engines: they keep the ASE
    runner)."""
    family = model.identity.get("family")
    wrapper = FAMILIES[family].torchsim_model if family in FAMILIES else None
    if wrapper is None:
        raise NotBatchable(
            f"{family or model.identity.get('calculator', 'this model')}: no torch-sim wrapper "
            f"(batched families: {', '.join(BATCHABLE_FAMILIES)})"
        )
    return wrapper(model)

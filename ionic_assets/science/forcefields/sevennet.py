"""SevenNet: the checkpoints shipped inside the sevenn wheel ("7net-0", "7net-0_22may2024",
"7net-l3i5", "7net-mf-0").

A multi-fidelity checkpoint (7net-mf-0) needs the spec's `modal`: the fidelity it predicts
("PBE" or "R2SCAN"); a single-fidelity one refuses a modal rather than ignore it.
Element coverage: the checkpoint's type map. torch-sim wrapper: `sevenn.torchsim.SevenNetModel`
on the same checkpoint file (float32 only). Energies eV, forces eV/Angstrom.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ase.calculators.calculator import Calculator

from ionic_assets.science.errors import InputError

if TYPE_CHECKING:
    from ionic_assets.science.forcefields import LoadedModel, ModelSpec

PACKAGE = "sevenn"
DEFAULT_NAME = "7net-0"
DTYPES = ("float32",)


def load(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    """The ASE calculator of `spec` on `device`, its weights file and the elements it covers."""
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
    try:
        calculator = SevenNetCalculator(str(path), device=device, modal=spec.modal)
    except ValueError as exc:  # sevenn's message lists the fidelities the checkpoint has
        raise InputError(f"SevenNet model {spec.label!r}: {exc}") from None
    if spec.modal is not None and calculator.modal is None:
        raise InputError(f"SevenNet model {spec.label!r} has one fidelity, not modal {spec.modal}")
    return calculator, path, [int(z) for z in calculator.type_map]


def torchsim_model(model: LoadedModel):
    """The torch-sim model of a loaded SevenNet model, on its device (same fidelity)."""
    from sevenn.torchsim import SevenNetModel

    return SevenNetModel(
        model.identity["weights_path"], device=model.device, modal=model.identity.get("modal")
    )

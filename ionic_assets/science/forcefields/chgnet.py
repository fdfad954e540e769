"""CHGNet: the checkpoints shipped inside the chgnet wheel ("0.3.0", "0.2.0", "r2scan").

Element coverage: the atom embedding's rows, atomic numbers 1..n (94 for the shipped models).
No torch-sim wrapper: chgnet ships none, so CHGNet MD keeps the ASE runner.
Energies eV, forces eV/Angstrom.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ase.calculators.calculator import Calculator

from ionic_assets.science.errors import InputError

if TYPE_CHECKING:
    from ionic_assets.science.forcefields import ModelSpec

PACKAGE = "chgnet"
DEFAULT_NAME = "0.3.0"
DTYPES = ("float32",)
#: chgnet ships no torch-sim model.
torchsim_model = None

# Paths inside the chgnet package, as in `CHGNet.load` (which keeps its table private).
CHECKPOINTS = {
    "0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
    "0.2.0": "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
    "r2scan": "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
}


def load(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    """The ASE calculator of `spec` on `device`, its weights file and the elements it covers."""
    import chgnet
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    if spec.path:
        path = Path(spec.path)
        model = CHGNet.from_file(str(path))
    else:
        if spec.label not in CHECKPOINTS:
            raise InputError(
                f"unknown CHGNet model {spec.label!r} (known: {', '.join(CHECKPOINTS)})"
            )
        path = Path(chgnet.__file__).parent / CHECKPOINTS[spec.label]
        model = CHGNet.load(model_name=spec.label, use_device=device, verbose=False)
    calculator = CHGNetCalculator(model, use_device=device)
    n_elements = model.atom_embedding.embedding.num_embeddings
    return calculator, path, list(range(1, n_elements + 1))

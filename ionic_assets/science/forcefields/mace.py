"""MACE: foundation models by their `mace_mp` name, or any local MACE model file.

Named weights are found or downloaded by mace's own `download_mace_mp_checkpoint` (what `mace_mp`
uses; cache ``$XDG_CACHE_HOME/mace`` or ``~/.cache/mace``) and loaded with `MACECalculator`,
which lets cuEquivariance be enabled on CUDA. Offline and not cached: InputError within seconds,
asking for ``path:``. Element coverage: the model's z table. torch-sim wrapper:
`mace.calculators.mace_torchsim.MaceTorchSimModel` on the ASE calculator's own module (already
loaded, e3nn 0.5 fix applied), stress not computed (NVT). A model with random weights for
offline tests and timing: `random_mace`. Energies eV, forces eV/Angstrom.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from ase.calculators.calculator import Calculator

from ionic_assets.science.errors import InputError

if TYPE_CHECKING:
    from ionic_assets.science.forcefields import LoadedModel, ModelSpec

PACKAGE = "mace-torch"
DEFAULT_NAME = "medium-mpa-0"
DTYPES = ("float32", "float64")

# A download that cannot connect within this many seconds is treated as "offline": mace's own
# downloader would otherwise wait up to 120 s on a firewalled network.
NETWORK_PROBE_TIMEOUT_S = 5.0


def load(spec: ModelSpec, device: str) -> tuple[Calculator, Path, list[int]]:
    """The ASE calculator of `spec` on `device`, its weights file and the elements it covers."""
    from mace.calculators import MACECalculator

    path = Path(spec.path) if spec.path else _foundation_weights(spec.label)
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


def torchsim_model(model: LoadedModel):
    """The torch-sim model of a loaded MACE model: its calculator's module, on its device."""
    import torch
    from mace.calculators.mace_torchsim import MaceTorchSimModel

    return MaceTorchSimModel(
        model.calculator.models[0],
        device=torch.device(model.device),
        dtype=getattr(torch, model.identity["dtype"]),
        compute_stress=False,
    )


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


def cached_weights_path(name: str) -> Path:
    """Where `mace_mp(name)` keeps the weights: next to the package or in mace's cache dir."""
    from mace.calculators import foundations_models as fm
    from mace.tools.utils import get_cache_dir

    if name == "medium-mpa-0" and os.path.isfile(fm.local_model_path):
        return Path(fm.local_model_path)
    basename = os.path.basename(fm.mace_mp_urls[name])
    return Path(get_cache_dir()) / "".join(c for c in basename if c.isalnum() or c == "_")


def _foundation_weights(name: str) -> Path:
    from mace.calculators import foundations_models as fm

    if name not in fm.mace_mp_urls:
        raise InputError(
            f"unknown MACE foundation model {name!r} "
            f"(known: {', '.join(fm.mace_mp_urls)}; or set path: to a local model file)"
        )
    cached = cached_weights_path(name)
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

"""A loaded force model as a torch-sim model, through the wrapper its own package ships.

sevenn  `sevenn.torchsim.SevenNetModel` on the same checkpoint file (float32 only)
mace    `mace.calculators.mace_torchsim.MaceTorchSimModel` on the ASE calculator's own
        module (already loaded, e3nn 0.5 fix applied), stress not computed (NVT)
other   `NotBatchable`: CHGNet ships no torch-sim wrapper, DFT engines are processes;
        they keep the ASE runner (`science.md.run_nvt`)
"""

from __future__ import annotations

from ionic_assets.science.forcefields import LoadedModel

#: Families whose package ships a torch-sim wrapper.
BATCHABLE_FAMILIES = ("sevenn", "mace")


class NotBatchable(Exception):
    """The model cannot run in the batched engine; the message says why."""


def torchsim_model(model: LoadedModel):
    """The torch-sim `ModelInterface` of `model` on its device; NotBatchable if there is none."""
    import torch

    family = model.identity.get("family")
    if family == "sevenn":
        from sevenn.torchsim import SevenNetModel

        return SevenNetModel(model.identity["weights_path"], device=model.device)
    if family == "mace":
        from mace.calculators.mace_torchsim import MaceTorchSimModel

        dtype = getattr(torch, model.identity["dtype"])
        return MaceTorchSimModel(
            model.calculator.models[0],
            device=torch.device(model.device),
            dtype=dtype,
            compute_stress=False,
        )
    raise NotBatchable(
        f"{family or model.identity.get('calculator', 'this model')}: no torch-sim wrapper "
        f"(batched families: {', '.join(BATCHABLE_FAMILIES)})"
    )

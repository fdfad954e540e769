"""torch-sim's NVT Nose-Hoover state of a batch: built, thinned and saved system by system.

torch-sim keeps the thermostat chain as one "global" attribute of the state (rows = systems)
that its own slicing does not split, and it has no checkpoint API. Here each system's part of
the state is an explicit set of arrays (`system_arrays`): positions, momenta, forces and energy
plus its chain row (positions, momenta, masses, tau, kinetic energy, degrees of freedom).
Saved together and restored with `restore_state` they continue bit for bit (a fresh chain
would not: its variables start at zero). `select` removes systems from the batch, chain rows
included.

Units: positions Angstrom (unwrapped: torch-sim's integrators never wrap them), momenta
amu A / (ASE time unit), forces eV/A, energies eV.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units

from ionic_assets.science.md import torchsim_thermostat

CHAIN_FIELDS = ("positions", "momenta", "masses", "tau", "kinetic_energy", "degrees_of_freedom")
ATOM_FIELDS = ("positions", "momenta", "forces")


def kT_eV(temperatures_K, device, dtype):
    """Per-system kT, eV, as a tensor."""
    import torch

    return torch.tensor([t * units.kB for t in temperatures_K], device=device, dtype=dtype)


def init_state(atoms: list[Atoms], momenta: list[np.ndarray], temperatures_K, model, protocol):
    """The batch's initial NVT state (forces computed once by `model`)."""
    import torch
    import torch_sim as ts

    state = ts.io.atoms_to_state(atoms, device=model.device, dtype=model.dtype)
    p = torch.as_tensor(np.concatenate(momenta), device=model.device, dtype=model.dtype)
    return ts.nvt_nose_hoover_init(
        state,
        model,
        kT=kT_eV(temperatures_K, model.device, model.dtype),
        dt=torchsim_thermostat.timestep(protocol),
        momenta=p,
        **torchsim_thermostat.chain_kwargs(protocol),
    )


def restore_state(atoms: list[Atoms], saved: list[dict[str, np.ndarray]], model, protocol):
    """The batch's state rebuilt from each system's `system_arrays`, exactly."""
    import torch
    import torch_sim as ts
    from torch_sim.integrators.md import NoseHooverChain, construct_nose_hoover_chain
    from torch_sim.integrators.nvt import NVTNoseHooverState

    def joined(name: str):
        return torch.as_tensor(np.concatenate([s[name] for s in saved]), device=model.device)

    base = ts.io.atoms_to_state(atoms, device=model.device, dtype=model.dtype)
    kwargs = torchsim_thermostat.chain_kwargs(protocol)
    dt = torch.as_tensor(
        torchsim_thermostat.timestep(protocol), device=model.device, dtype=model.dtype
    )
    tau = torch.as_tensor(kwargs["tau"], device=model.device, dtype=model.dtype)
    chain_fns = construct_nose_hoover_chain(
        dt, kwargs["chain_length"], kwargs["chain_steps"], kwargs["sy_steps"], tau
    )
    chain = NoseHooverChain(*(joined(f"chain_{name}") for name in CHAIN_FIELDS))
    return NVTNoseHooverState(
        positions=joined("positions"),
        masses=base.masses,
        cell=base.cell,
        pbc=base.pbc,
        atomic_numbers=base.atomic_numbers,
        system_idx=base.system_idx,
        momenta=joined("momenta"),
        energy=joined("energy"),
        forces=joined("forces"),
        chain=chain,
        _chain_fns=chain_fns,
    )


def system_arrays(state, index: int) -> dict[str, np.ndarray]:
    """System `index`'s part of `state` as numpy arrays (what its checkpoint holds)."""
    atoms = (state.system_idx == index).nonzero().squeeze(-1)
    arrays = {name: getattr(state, name)[atoms] for name in ATOM_FIELDS}
    arrays["energy"] = state.energy[index : index + 1]
    for name in CHAIN_FIELDS:
        arrays[f"chain_{name}"] = getattr(state.chain, name)[index : index + 1]
    return {name: value.detach().cpu().numpy() for name, value in arrays.items()}


def select(state, keep: list[int]):
    """`state` with only the systems `keep` (in that order), their chain rows included."""
    from torch_sim.integrators.md import NoseHooverChain

    rows = state.chain.positions.new_tensor(keep, dtype=int).long()
    chain = NoseHooverChain(*(getattr(state.chain, name)[rows] for name in CHAIN_FIELDS))
    thinned = state[keep]
    thinned.chain = chain
    return thinned


def temperatures_and_finite(state) -> tuple[np.ndarray, np.ndarray]:
    """Per-system temperature (K, 2 E_kin / ((3N - 3) k_B)) and whether its forces and energy
    are all finite, in one transfer from the device."""
    import torch
    import torch_sim as ts

    n = state.n_systems
    kinetic = ts.calc_kinetic_energy(
        masses=state.masses, momenta=state.momenta, system_idx=state.system_idx
    )
    bad_atoms = (~torch.isfinite(state.forces)).any(dim=1).to(kinetic.dtype)
    bad = torch.zeros(n, device=kinetic.device, dtype=kinetic.dtype)
    bad.index_add_(0, state.system_idx, bad_atoms)
    bad += (~torch.isfinite(state.energy)).to(kinetic.dtype)
    both = torch.stack([kinetic, bad]).detach().cpu().double().numpy()
    dof = (3 * state.n_atoms_per_system - 3).cpu().double().numpy()
    return 2 * both[0] / (dof * units.kB), both[1] == 0

"""The protocol's Nose-Hoover chain as torch-sim's NVT integrator, with its exact settings.

torch-sim's `nvt_nose_hoover_init/step` (0.6.2) integrate the Martyna-Tuckerman-Klein chain
with Suzuki-Yoshida substeps, like ASE's `NoseHooverChainNVT`. The protocol's parameters map
one to one, and every one is passed explicitly (torch-sim's code defaults tau to 10 dt, not
the 100 dt its docstring states):

    tdamp_fs -> tau          chain relaxation time
    tchain   -> chain_length thermostats in the chain
    tloop    -> chain_steps  chain substeps per half step
    (fixed)  -> sy_steps=3   ASE's fourth-order Suzuki-Yoshida scheme has 3 weights

Two differences remain and are recorded with every trajectory (`integrator_settings`): the
first chain mass is Q1 = (3N - 3) kT tau^2 in torch-sim and 3N kT tau^2 in ASE, and the
thermostat drives 2 E_kin to (3N - 3) kT (centre-of-mass motion removed) instead of 3N kT.
The temperature the batched engine reports is therefore 2 E_kin / ((3N - 3) k_B).

Units: torch-sim works in eV, Angstrom, amu and time sqrt(amu A^2/eV), ASE's own units, so
`ase.units.fs` converts femtoseconds and ASE momenta pass unchanged.
"""

from __future__ import annotations

from importlib.metadata import version

from ase import units

from ionic_assets.science.errors import InputError
from ionic_assets.science.protocols import Protocol

SY_STEPS = 3
INTEGRATOR = "torch_sim.integrators.nvt.nvt_nose_hoover_step"


def chain_kwargs(protocol: Protocol) -> dict:
    """Keyword arguments of `nvt_nose_hoover_init` (tau in torch-sim time units)."""
    params = dict(protocol.thermostat.params)
    unknown = set(params) - {"tdamp_fs", "tchain", "tloop"}
    if unknown or "tdamp_fs" not in params:
        raise InputError(
            f"protocol {protocol.name!r}: the batched engine needs tdamp_fs (and optionally "
            f"tchain, tloop), got {sorted(params)}"
        )
    return {
        "tau": params["tdamp_fs"] * units.fs,
        "chain_length": int(params.get("tchain", 3)),
        "chain_steps": int(params.get("tloop", 1)),
        "sy_steps": SY_STEPS,
    }


def timestep(protocol: Protocol) -> float:
    """The protocol's time step in torch-sim (= ASE) time units."""
    return protocol.timestep_fs * units.fs


def integrator_settings(protocol: Protocol) -> dict:
    """What is recorded with every batched trajectory: the exact integrator and how it differs
    from the ASE runner's."""
    params = dict(protocol.thermostat.params)
    return {
        "integrator": INTEGRATOR,
        "torch_sim_version": version("torch-sim-atomistic"),
        "timestep_fs": protocol.timestep_fs,
        "tau_fs": params["tdamp_fs"],
        "chain_length": int(params.get("tchain", 3)),
        "chain_steps": int(params.get("tloop", 1)),
        "sy_steps": SY_STEPS,
        "first_chain_mass": "(3N - 3) kT tau^2 (ASE NoseHooverChainNVT: 3N kT tau^2)",
        "other_chain_masses": "kT tau^2 (as ASE)",
        "thermostatted_dof": "3N - 3 (ASE: 3N)",
        "temperature_definition": "2 E_kin / ((3N - 3) k_B)",
    }

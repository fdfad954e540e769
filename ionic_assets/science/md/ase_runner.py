"""The ASE runner: one NVT trajectory integrated by the protocol's ASE dynamics class.

`run_nvt` integrates a structure with a protocol's thermostat (see `protocols`), writes frames to
an HDF5 trajectory (see `trajectory_store`), and checkpoints the complete integrator state:
positions, momenta, the thermostat's chain variables, the step counter and the running
statistics (the bookkeeping is `recorder.Recorder`'s, the files `checkpoint`'s). Started again
with the same arguments after a crash or SIGKILL it continues from the last checkpoint and ends
with exactly the frames an uninterrupted run would have written; called again after completion
it returns the stored result without computing anything. "The same arguments" means structure,
temperature, seed, model identity and the protocol fields that shape the trajectory
(`recorder.TRAJECTORY_FIELDS`); output cadence and guards may change in between. Bitwise
equality needs forces that depend on the positions only: true of the MLIP calculators (they
rebuild their graph every call), not of ASE's EMT, whose neighbour list keeps a skin.

Units: positions Angstrom (unwrapped: ASE's integrators never wrap them), time ps, time step fs,
temperature K, energies eV. Temperature is 2 E_kin / (3 N k_B), the definition the Nose-Hoover
chain thermostat controls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ionic_assets.science.forcefields import LoadedModel
from ionic_assets.science.md.engine import Engine
from ionic_assets.science.md.recorder import MDProgress, Recorder
from ionic_assets.science.md.result import MDResult
from ionic_assets.science.protocols import Protocol


def run_nvt(
    atoms: Atoms,
    calculator: Calculator | LoadedModel,
    protocol: Protocol,
    temperature_K: float,
    seed: int,
    trajectory_path: str | Path,
    on_progress: Callable[[MDProgress], None] | None = None,
    provenance: dict | None = None,
    on_checkpoint: Callable[[], None] | None = None,
) -> MDResult:
    """Run (or resume, or return the finished) NVT trajectory of `atoms` at `temperature_K`.

    Velocities are drawn from the Maxwell-Boltzmann distribution with `seed`, the centre-of-mass
    momentum removed and the kinetic energy scaled to exactly `temperature_K`. `atoms` is not
    modified. A `LoadedModel` adds its identity to the provenance and its device to the cost.
    `on_checkpoint` is called right after each periodic checkpoint is written, when the
    trajectory file holds exactly the checkpoint's frames (e.g. to copy both to shared storage);
    the final state, written when the run completes, is the caller's to keep once this returns.

    Raises:
        MDGuardError: a guard stopped the run; the frames so far stay readable.
        StorageError: the trajectory or a checkpoint could not be written (e.g. disk full).
        InputError: the trajectory path holds another run, or the input is unusable.
    """
    run = _Run(
        atoms,
        calculator,
        protocol,
        float(temperature_K),
        int(seed),
        Path(trajectory_path),
        on_checkpoint,
    )
    return run.execute(on_progress, provenance or {})


class _Run:
    """The ASE runner: one trajectory integrated by the protocol's ASE dynamics class."""

    def __init__(
        self,
        atoms: Atoms,
        calculator: Calculator | LoadedModel,
        protocol: Protocol,
        temperature_K: float,
        seed: int,
        path: Path,
        on_checkpoint: Callable[[], None] | None = None,
    ):
        if isinstance(calculator, LoadedModel):
            identity, device = calculator.identity, calculator.device
            calculator = calculator.calculator
        else:
            identity, device = {"calculator": _class_path(calculator)}, "cpu"
        self.protocol, self.temperature_K, self.seed = protocol, temperature_K, seed
        self.recorder = Recorder(
            atoms, protocol, temperature_K, seed, path, identity, device, Engine.ASE,
            self._integrator_state, on_checkpoint,
        )  # fmt: skip
        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        self.masses = atoms.get_masses()[:, np.newaxis]
        self.kinetic_to_K = 2 / (3 * len(atoms) * units.kB)

    def execute(self, on_progress, provenance: dict) -> MDResult:
        self.atoms.set_momenta(initial_momenta(self.atoms, self.temperature_K, self.seed))
        self._new_dynamics()
        begun = self.recorder.begin(self.atoms.get_positions(), provenance)
        if isinstance(begun, MDResult):
            return begun
        if begun is not None:
            _THERMOSTAT_STATE[self.protocol.thermostat.class_path][1](self.dyn, begun)
            if hasattr(self.atoms.calc, "md_step"):  # DFT calculators name the failing step
                self.atoms.calc.md_step = self.recorder.state.step
        self._loop(on_progress)
        return self.recorder.finish()

    def _loop(self, on_progress) -> None:
        recorder, protocol = self.recorder, self.protocol
        for step in range(recorder.state.step + 1, protocol.n_steps + 1):
            self.dyn.step()
            results = self.atoms.calc.results  # computed by the step at the current positions
            finite = np.isfinite(results["forces"]).all() and np.isfinite(
                results.get("energy", 0.0)
            )
            recorder.record(step, self._temperature_K(), self.atoms.get_positions, finite)
            if on_progress is not None and step % protocol.progress_interval_steps == 0:
                on_progress(recorder.progress(step))
            if recorder.done:
                return

    def _temperature_K(self) -> float:
        # Not Atoms.get_kinetic_energy: its BLAS dot product rounds differently with memory
        # alignment, which would make a resumed run's statistics differ in the last bit.
        momenta = self.atoms.arrays["momenta"]
        return 0.5 * float((momenta * momenta / self.masses).sum()) * self.kinetic_to_K

    def _integrator_state(self) -> dict[str, np.ndarray]:
        return _THERMOSTAT_STATE[self.protocol.thermostat.class_path][0](self.dyn)

    def _new_dynamics(self) -> None:
        self.dyn = _make_dynamics(self.atoms, self.protocol, self.temperature_K)
        # The Nose-Hoover chain integrator asks for forces twice a step, the first time at the
        # positions the last step ended on. Through Atoms.get_forces each request pays ASE's
        # cache check (np.allclose on every per-atom array), noticeable beside a fast GPU force
        # call. Answering here is the same arithmetic (tested bitwise vs ASE).
        self.forces_at_A: np.ndarray | None = None
        self.dyn._get_forces = self._forces

    def _forces(self) -> np.ndarray:
        self.dyn._update_atoms()  # what ASE's own _get_forces does first
        positions, calc = self.atoms.arrays["positions"], self.atoms.calc
        if self.forces_at_A is None or not np.array_equal(self.forces_at_A, positions):
            changes = all_changes if self.forces_at_A is None else ["positions"]
            calc.calculate(self.atoms, ["energy", "forces"], changes)
            self.forces_at_A = positions.copy()
        return calc.results["forces"]


def initial_momenta(atoms: Atoms, temperature_K: float, seed: int) -> np.ndarray:
    """Maxwell-Boltzmann momenta drawn with `seed`, centre-of-mass momentum removed, kinetic
    energy scaled to exactly `temperature_K` (3N degrees of freedom); ASE units."""
    atoms = atoms.copy()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, exact_temperature=True, rng=rng)
    Stationary(atoms, preserve_temperature=True)
    return atoms.get_momenta()


def _class_path(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _make_dynamics(atoms: Atoms, protocol: Protocol, temperature_K: float):
    module, _, name = protocol.thermostat.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    params = {
        key.removesuffix("_fs"): value * units.fs if key.endswith("_fs") else value
        for key, value in protocol.thermostat.params.items()
    }
    timestep = protocol.timestep_fs * units.fs
    return cls(atoms, timestep=timestep, temperature_K=temperature_K, **params)


# --- thermostat state: exactly what `step()` reads and writes, so a resume is bitwise ----------


def _nhc_state(dyn) -> dict[str, np.ndarray]:
    thermostat = dyn._thermostat
    return {"q": dyn._q, "p": dyn._p, "eta": thermostat._eta, "p_eta": thermostat._p_eta}


def _nhc_restore(dyn, arrays: dict[str, np.ndarray]) -> None:
    dyn._q, dyn._p = arrays["q"].copy(), arrays["p"].copy()
    dyn._thermostat._eta, dyn._thermostat._p_eta = arrays["eta"].copy(), arrays["p_eta"].copy()
    dyn._update_atoms()


_THERMOSTAT_STATE = {
    "ase.md.nose_hoover_chain.NoseHooverChainNVT": (_nhc_state, _nhc_restore),
}

"""MD protocols as data: timestep, length, thermostat, output cadence and guards.

Protocols live in ``ionic_assets/config/protocols.yaml`` (or any YAML file of the same layout);
`load_protocol("paper")` returns the paper's NVT protocol (section 2.2: Nose-Hoover, 2 fs,
100 ps with the first 5 ps discarded, supercells >= 10 A wide).

The thermostat is named by its ASE class path so the exact integrator is recorded with every
trajectory. The one supported is ``ase.md.nose_hoover_chain.NoseHooverChainNVT``: a
Nose-Hoover chain is the paper's thermostat family, it is deterministic (no random force), so a
resumed run can continue bit for bit, and its state is a handful of arrays the MD runner can
save. (ASE's older ``ase.md.npt.NPT`` in NVT mode is single-thermostat Nose-Hoover with a
non-ergodicity known for small cells, and requires upper-triangular cells.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from ionic_assets.science.errors import InputError
from ionic_assets.science.md.adaptive import rule_from_dict

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "config" / "protocols.yaml"


@dataclass(frozen=True)
class Thermostat:
    """An ASE MD class and its parameters (``*_fs`` keys are times in femtoseconds)."""

    class_path: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Guards:
    """Limits that stop a run early (the temperature one only after equilibration).

    Attributes:
        min_interatomic_distance_A: two atoms closer than this (Angstrom) mean a collapse.
        distance_check_interval_steps: how often the distance check runs.
        max_temperature_deviation: fraction of the target temperature the running mean may
            deviate by before the run is stopped.
        temperature_window_steps: steps in that running mean (so the fluctuations of a small
            cell do not trip it); judged once the window is full.
    """

    min_interatomic_distance_A: float
    distance_check_interval_steps: int
    max_temperature_deviation: float
    temperature_window_steps: int


@dataclass(frozen=True)
class Protocol:
    """How one MD trajectory is produced.

    Attributes:
        name: the key in the protocols file.
        timestep_fs: integration time step, femtoseconds.
        duration_ps: simulated time, picoseconds.
        equilibration_ps: initial time discarded before analysis, picoseconds.
        diffusion_fit_start_ps: time interval from which the MSD is fitted for D, picoseconds
            (the start of the diffusive regime; it must leave enough of the run to fit).
        thermostat: ASE class path and parameters.
        frame_interval_steps: a frame (positions) is stored every this many steps.
        checkpoint_interval_steps: a restartable checkpoint is written every this many steps.
        progress_interval_steps: the progress callback is called every this many steps.
        min_cell_width_A: supercells are grown until every perpendicular width is >= this.
        guards: see `Guards`.
        replicas: independent trajectories per (material, temperature), differing only in the
            seed of their initial velocities (seed + r for replica r); 1 by default.
        adaptive: the adaptive stopping rule's fields (`science.md.adaptive.AdaptiveRule`), or
            None: the run always lasts duration_ps (then its maximum).
        description: free text.
    """

    name: str
    timestep_fs: float
    duration_ps: float
    equilibration_ps: float
    thermostat: Thermostat
    frame_interval_steps: int
    checkpoint_interval_steps: int
    progress_interval_steps: int
    min_cell_width_A: float
    guards: Guards
    diffusion_fit_start_ps: float = 3.0
    replicas: int = 1
    adaptive: dict | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_steps(self) -> int:
        return round(self.duration_ps * 1000 / self.timestep_fs)

    @property
    def equilibration_steps(self) -> int:
        return round(self.equilibration_ps * 1000 / self.timestep_fs)

    @property
    def frame_interval_ps(self) -> float:
        return self.frame_interval_steps * self.timestep_fs / 1000

    @property
    def n_frames(self) -> int:
        """Frames in a complete trajectory, the one at t = 0 included."""
        return self.n_steps // self.frame_interval_steps + 1

    def to_dict(self) -> dict:
        return asdict(self)


#: The name of the smoke protocol in config/protocols.yaml: a short plumbing check, whose results
#: are no benchmark (its figures say so, `figures.SMOKE_NOTE`).
SMOKE = "smoke"
#: The suffix of a protocol's relaxed twin (`relaxed_twin`).
RELAXED_SUFFIX = "-relaxed"


def relaxed_twin(protocol_name: str) -> str:
    """The name of the protocol that differs from `protocol_name` only by relaxing the cell
    first (`paper` -> `paper-relaxed`): the one naming rule, for the relaxation protocols and the
    relaxed-vs-unrelaxed comparison (`science.sensitivity.relaxed_comparison`) alike."""
    return protocol_name + RELAXED_SUFFIX


#: The longest time step accepted, fs: Li moves too fast for more (the paper uses 2 fs).
MAX_TIMESTEP_FS = 10.0
#: Parameters of each supported thermostat (``*_fs`` in femtoseconds) and whether whole numbers.
THERMOSTAT_PARAMS = {
    "ase.md.nose_hoover_chain.NoseHooverChainNVT": {
        "tdamp_fs": False,
        "tchain": True,
        "tloop": True,
    }
}
SUPPORTED_THERMOSTATS = tuple(THERMOSTAT_PARAMS)


def _check(where, key, value, low, unit, whole=False, high=None, or_equal=False) -> None:
    """InputError unless `value` is a number (a whole one if `whole`) > `low` (>= with
    `or_equal`), and <= `high` if given."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        raise InputError(f"{where}: {key} must be {kind} ({unit}), got {value!r}")
    allowed = f"{'>=' if or_equal else '>'} {low:g}" + (f" and <= {high:g}" if high else "")
    above = value >= low if or_equal else value > low
    if not (above and (high is None or value <= high)):
        raise InputError(f"{where}: {key} must be {allowed} ({unit}), got {value}")


def _validate(p: Protocol) -> None:
    where = f"protocol {p.name!r}"
    g = p.guards
    _check(where, "timestep_fs", p.timestep_fs, 0, "fs", high=MAX_TIMESTEP_FS)
    _check(where, "duration_ps", p.duration_ps, 0, "ps")
    _check(where, "equilibration_ps", p.equilibration_ps, 0, "ps", or_equal=True)
    _check(where, "diffusion_fit_start_ps", p.diffusion_fit_start_ps, 0, "ps", or_equal=True)
    _check(where, "min_cell_width_A", p.min_cell_width_A, 0, "Å", or_equal=True)
    for key, value in (
        ("frame_interval_steps", p.frame_interval_steps),
        ("checkpoint_interval_steps", p.checkpoint_interval_steps),
        ("progress_interval_steps", p.progress_interval_steps),
        ("guards.distance_check_interval_steps", g.distance_check_interval_steps),
        ("guards.temperature_window_steps", g.temperature_window_steps),
    ):
        _check(where, key.removeprefix("guards."), value, 0, "steps", whole=True)
    _check(where, "min_interatomic_distance_A", g.min_interatomic_distance_A, 0, "Å")
    # A deviation of 1 or more (a running mean at twice the target) effectively turns it off.
    _check(where, "max_temperature_deviation", g.max_temperature_deviation, 0, "fraction")
    _check(where, "replicas", p.replicas, 0, "count", whole=True)
    if not math.isclose(p.n_steps * p.timestep_fs, p.duration_ps * 1000):
        raise InputError(f"{where}: duration_ps is not a whole number of time steps")
    if p.frame_interval_steps > p.n_steps:
        raise InputError(
            f"{where}: frame_interval_steps must be at most the run's {p.n_steps} steps, "
            f"got {p.frame_interval_steps}"
        )
    if not 0 <= p.equilibration_ps < p.duration_ps:
        raise InputError(
            f"{where}: equilibration_ps must be in [0, duration_ps) = [0, {p.duration_ps:g}) ps, "
            f"got {p.equilibration_ps:g}"
        )
    if not 0 <= p.diffusion_fit_start_ps < p.duration_ps - p.equilibration_ps:
        raise InputError(
            f"{where}: diffusion_fit_start_ps must be shorter than the analysed run "
            f"({p.duration_ps - p.equilibration_ps:g} ps), got {p.diffusion_fit_start_ps:g}"
        )
    rule = rule_from_dict(p.adaptive)
    if rule is not None and not rule.min_duration_ps < p.duration_ps:
        raise InputError(
            f"{where}: adaptive min_duration_ps must be shorter than duration_ps "
            f"({p.duration_ps:g} ps), got {rule.min_duration_ps:g}"
        )
    _validate_thermostat(where, p.thermostat)


def _validate_thermostat(where: str, thermostat: Thermostat) -> None:
    if thermostat.class_path not in THERMOSTAT_PARAMS:
        raise InputError(
            f"{where}: thermostat {thermostat.class_path!r} not supported "
            f"(supported: {', '.join(SUPPORTED_THERMOSTATS)})"
        )
    known = THERMOSTAT_PARAMS[thermostat.class_path]
    unknown = sorted(set(thermostat.params) - set(known))
    if unknown:
        raise InputError(
            f"{where}: thermostat.params: unknown {', '.join(unknown)} "
            f"(allowed: {', '.join(known)})"
        )
    for key, value in thermostat.params.items():
        unit = "fs" if key.endswith("_fs") else "count"
        _check(where, f"thermostat.params.{key}", value, 0, unit, whole=known[key])


#: Protocol fields that only set how often a run reports and checkpoints, not its trajectory.
CADENCE_FIELDS = ("checkpoint_interval_steps", "progress_interval_steps")


def with_cadence(protocol: Protocol, cadence: dict) -> Protocol:
    """`protocol` with other checkpoint/progress intervals (steps), e.g. every step for DFT,
    whose steps take minutes; InputError for any other field (it would change the science)."""
    unknown = sorted(set(cadence) - set(CADENCE_FIELDS))
    if unknown:
        raise InputError(
            f"protocol {protocol.name!r}: cadence may set only {', '.join(CADENCE_FIELDS)}, "
            f"not {', '.join(unknown)}"
        )
    return replace(protocol, **cadence)


def protocol_from_dict(name: str, config: dict) -> Protocol:
    """Build a Protocol from one entry of the protocols file."""
    if not isinstance(config, dict):
        raise InputError(f"protocol {name!r}: must be a map of settings, not {config!r}")
    config = dict(config)
    try:
        thermostat = config.pop("thermostat")
        guards = config.pop("guards")
        return Protocol(
            name=name,
            thermostat=Thermostat(thermostat["class"], dict(thermostat.get("params", {}))),
            guards=Guards(**guards),
            **config,
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"protocol {name!r}: bad or missing field ({exc})") from exc


def load_protocols(path: str | Path | None = None) -> dict[str, Protocol]:
    """All protocols of a YAML file (default: the package's ``config/protocols.yaml``)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"protocols file {path}: cannot read ({exc})") from exc
    if not isinstance(entries, dict):
        raise InputError(f"protocols file {path}: expected a mapping of protocol names")
    try:
        return {name: protocol_from_dict(name, entry) for name, entry in entries.items()}
    except InputError as exc:
        raise InputError(f"protocols file {path}: {exc}") from None


def load_protocol(name: str, path: str | Path | None = None) -> Protocol:
    """The protocol called `name`; InputError listing the known ones if there is none."""
    protocols = load_protocols(path)
    if name not in protocols:
        raise InputError(f"unknown MD protocol {name!r} (known: {', '.join(protocols)})")
    return protocols[name]

"""One typed record per warehouse table: its columns (units in the names), key and SQL schema.

The DuckDB schema of every table (`lib/warehouse.py`) is derived from these classes, and assets
write rows by building a record from the science result, so a column is declared here once.
Fields left None are stored as NULL (a "not estimable" estimate has no D). `dict` and `list[dict]`
fields are stored as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import ClassVar, NewType

#: An integer that may exceed 32 bits (a seed).
BigInt = NewType("BigInt", int)

_SQL_TYPES: dict[object, str] = {
    str: "VARCHAR",
    float: "DOUBLE",
    int: "INTEGER",
    BigInt: "BIGINT",
    bool: "BOOLEAN",
    list[float]: "DOUBLE[]",
    list[int]: "INTEGER[]",
    list[BigInt]: "BIGINT[]",
    list[str]: "VARCHAR[]",
    dict: "JSON",
    list[dict]: "JSON",
}


def _sql_type(hint: object) -> str:
    if typing.get_origin(hint) in (types.UnionType, typing.Union):  # `X | None`
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return _SQL_TYPES[hint]


@dataclass(frozen=True, kw_only=True)
class Record:
    """Base of the table records: `TABLE` names the table, `KEY` its key columns (None: the
    table is replaced as a whole), `BACKFILL` the SQL value of a column when it is added to a
    table of an earlier version (`warehouse.ensure_tables`; default NULL)."""

    TABLE: ClassVar[str]
    KEY: ClassVar[tuple[str, ...] | None]
    BACKFILL: ClassVar[dict[str, str]] = {}

    @classmethod
    def columns(cls) -> dict[str, str]:
        """Column name -> DuckDB type, in field order."""
        hints = typing.get_type_hints(cls)
        return {f.name: _sql_type(hints[f.name]) for f in dataclasses.fields(cls)}

    def as_row(self) -> dict:
        """The row as plain Python values, JSON columns encoded."""
        row = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            is_json = self.columns()[f.name] == "JSON"
            row[f.name] = json.dumps(value, default=str) if is_json and value is not None else value
        return row


@dataclass(frozen=True, kw_only=True)
class ObelixSubsetRow(Record):
    TABLE: ClassVar[str] = "obelix_subset"
    KEY: ClassVar[tuple[str, ...] | None] = None

    material_id: str
    formula: str
    sigma_exp_mS_cm: float
    space_group: str
    space_group_number: int
    family: str
    doi: str
    is_ordered: bool


@dataclass(frozen=True, kw_only=True)
class SupercellRow(Record):
    TABLE: ClassVar[str] = "supercells"
    KEY: ClassVar[tuple[str, ...] | None] = ("material_id", "min_width_A")

    material_id: str
    formula: str
    min_width_A: float
    replication: list[int]
    widths_A: list[float]
    n_atoms: int
    n_li: int
    volume_A3: float
    occupancy_fixes: list[dict]
    #: How partial occupancies were ordered (science.ordering): strategy ("none" for an ordered
    #: CIF), seed, the CIF's and the cell's composition (atoms per cell), net charge (e), the
    #: Ewald or model energy of the chosen ordering (eV) and the spread over those tried.
    ordering_strategy: str
    ordering_seed: BigInt | None = None
    target_composition: dict
    achieved_composition: dict
    charge_e: float | None = None
    ordering_energy_eV: float | None = None
    ordering_energy_spread_eV_per_atom: float | None = None
    ordering: dict
    supercell_cif: str


@dataclass(frozen=True, kw_only=True)
class RelaxedCellRow(Record):
    """The cell one method's MD starts from under one protocol: the supercell relaxed with the
    method's force model (`science.relax`), or passed through unchanged for relax mode "none".
    `checksum` (SHA-256 of `relaxed_cif`) is what md_trajectories' provenance names."""

    TABLE: ClassVar[str] = "relaxed_cells"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "protocol")

    method: str
    material_id: str
    protocol: str
    min_width_A: float
    #: "none", "positions" or "cell" (the protocol's relax.mode, or "none" for a DFT method
    #: without relax_with_dft).
    mode: str
    converged: bool
    n_steps: int
    n_atoms: int
    energy_initial_eV: float | None = None
    energy_final_eV: float | None = None
    energy_drop_eV_per_atom: float | None = None
    max_force_eV_A: float | None = None
    max_displacement_A: float
    max_li_displacement_A: float
    volume_initial_A3: float
    volume_A3: float
    volume_change_frac: float
    #: a, b, c as fractions (x/x0 - 1), alpha, beta, gamma in degrees (x - x0).
    lattice_change: dict
    #: "ase", "torch-sim" or "none".
    engine: str
    #: Cells relaxed together in one batch with this one (torch-sim's batch; 1 with ASE).
    batch_size: int | None = None
    wall_time_s: float | None = None
    #: The force model's identity and the relaxation's settings (mode, fmax_eV_A, max_steps,
    #: optimizer, cell filter), the engine choice, package versions.
    provenance: dict
    relaxed_cif: str
    checksum: str


@dataclass(frozen=True, kw_only=True)
class MDTrajectoryRow(Record):
    """One trajectory: where it is, the cell, the analysis windows, its cost (Table 1) and the
    provenance (model identity, protocol, seed, package versions, the MD result)."""

    TABLE: ClassVar[str] = "md_trajectories"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "temperature_K")

    method: str
    material_id: str
    temperature_K: float
    protocol: str
    trajectory_path: str
    n_frames: int
    n_atoms: int
    n_li: int
    volume_A3: float
    equilibration_ps: float
    diffusion_fit_start_ps: float | None = None
    seed: BigInt | None = None
    device: str
    uses_gpu: bool
    n_cpus: int | None = None
    wall_time_s: float | None = None
    cpu_hours: float | None = None
    steps_per_s: float | None = None
    atom_steps_per_s: float | None = None
    peak_host_memory_GiB: float | None = None
    peak_gpu_memory_GiB: float | None = None
    n_invocations: int
    framework_rmsd_A: float | None = None
    mean_temperature_K: float | None = None
    #: "ase" or "torch-sim" (science/md/engine.py).
    engine: str | None = None
    #: "max_duration", or an adaptive stop: "converged", "non_diffusive" (science/md/adaptive.py).
    stop_reason: str | None = None
    simulated_ps: float | None = None
    provenance: dict
    # seed replicas: replica 0 is `trajectory_path` / `seed`
    n_replicas: int | None = None
    replica_paths: list[str] | None = None
    replica_seeds: list[BigInt] | None = None
    min_width_A: float | None = None


@dataclass(frozen=True, kw_only=True)
class DiffusionRow(Record):
    """The Li tracer D of one trajectory with its 95% interval, or why it is not estimable."""

    TABLE: ClassVar[str] = "diffusion_estimates"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "temperature_K")

    method: str
    material_id: str
    temperature_K: float
    estimable: bool
    reason: str | None = None
    D_cm2_s: float | None = None
    D_ci95_lo_cm2_s: float | None = None
    D_ci95_hi_cm2_s: float | None = None
    D_samples_cm2_s: list[float] | None = None
    sigma_mS_cm: float | None = None
    msd_dt_ps: list[float] | None = None
    msd_A2: list[float] | None = None
    msd_max_A2: float | None = None
    msd_threshold_A2: float
    reliable: bool
    n_frames: int | None = None
    n_li: int | None = None
    volume_A3: float | None = None
    provenance: dict | None = None
    # seed replicas: D above is their combination (science.replicas)
    n_replicas: int | None = None
    replica_seeds: list[BigInt] | None = None
    replica_D_cm2_s: list[float] | None = None
    replica_D_ci95_lo_cm2_s: list[float] | None = None
    replica_D_ci95_hi_cm2_s: list[float] | None = None
    ln_D_between_replica_sd: float | None = None
    replicas_q_p_value: float | None = None
    replicas_consistent: bool | None = None
    # the OLS check of kinisi's slope, per replica
    replica_D_ols_cm2_s: list[float] | None = None
    ols_agrees: bool | None = None
    ols_agreement_factor: float | None = None
    # the collective route (science.collective); not estimable: collective_reason
    sigma_collective_mS_cm: float | None = None
    sigma_collective_ci95_lo_mS_cm: float | None = None
    sigma_collective_ci95_hi_mS_cm: float | None = None
    D_sigma_cm2_s: float | None = None
    D_sigma_samples_cm2_s: list[float] | None = None
    collective_reason: str | None = None
    haven_ratio: float | None = None
    haven_ratio_ci95_lo: float | None = None
    haven_ratio_ci95_hi: float | None = None
    # the melting indicator (science.melting): the largest replica's framework Lindemann ratio;
    # a melted partition is left out of the Arrhenius fit (its reason in excluded_json)
    framework_lindemann_ratio: float | None = None
    lindemann_threshold: float | None = None
    melted: bool | None = None


@dataclass(frozen=True, kw_only=True)
class ArrheniusRow(Record):
    """The Arrhenius fit of one material under one protocol (that of the trajectories fitted,
    the run's) and its extrapolation to `extrapolate_to_K`. A fit stored before the protocol
    column takes the protocol of its trajectories when they all share one, else NULL (read by
    no one)."""

    TABLE: ClassVar[str] = "arrhenius_fits"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "protocol")
    BACKFILL: ClassVar[dict[str, str]] = {
        "protocol": "(SELECT CASE WHEN count(DISTINCT m.protocol) = 1 THEN min(m.protocol) END "
        "FROM md_trajectories m WHERE m.method = arrhenius_fits.method "
        "AND m.material_id = arrhenius_fits.material_id)"
    }

    method: str
    material_id: str
    protocol: str
    temperatures_K: list[float]
    n_temperatures: int
    n_reliable: int
    estimable: bool
    reason: str | None = None
    temperatures_fit_K: list[float] | None = None
    extrapolate_to_K: float | None = None
    n_li: int | None = None
    volume_A3: float | None = None
    n_draws: int | None = None
    excluded_json: dict | None = None
    Ea_eV: float | None = None
    Ea_ci95_lo_eV: float | None = None
    Ea_ci95_hi_eV: float | None = None
    D0_cm2_s: float | None = None
    D0_ci95_lo_cm2_s: float | None = None
    D0_ci95_hi_cm2_s: float | None = None
    D300_cm2_s: float | None = None
    D300_ci95_lo_cm2_s: float | None = None
    D300_ci95_hi_cm2_s: float | None = None
    sigma300_mS_cm: float | None = None
    sigma300_ci95_lo_mS_cm: float | None = None
    sigma300_ci95_hi_mS_cm: float | None = None
    # fit diagnostics (science.arrhenius; names shared with the Arrhenius figure)
    residuals_log10_D: list[float] | None = None
    curvature_K2: float | None = None
    curvature_ci95_lo_K2: float | None = None
    curvature_ci95_hi_K2: float | None = None
    non_arrhenius: bool | None = None
    loo_delta_log10_sigma300: list[float] | None = None
    Ea_nonphysical: bool | None = None
    # the collective route (arrhenius.collective_route); not estimable: collective_reason
    collective_Ea_eV: float | None = None
    collective_Ea_ci95_lo_eV: float | None = None
    collective_Ea_ci95_hi_eV: float | None = None
    collective_sigma300_mS_cm: float | None = None
    collective_sigma300_ci95_lo_mS_cm: float | None = None
    collective_sigma300_ci95_hi_mS_cm: float | None = None
    collective_reason: str | None = None
    haven_ratio_300: float | None = None
    haven_ratio_300_ci95_lo: float | None = None
    haven_ratio_300_ci95_hi: float | None = None


@dataclass(frozen=True, kw_only=True)
class SizeCheckRow(Record):
    """D of one partition in the protocol's cell and in a wider one (`<method>/size_check`)."""

    TABLE: ClassVar[str] = "size_checks"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "temperature_K")

    method: str
    material_id: str
    temperature_K: float
    min_width_A: float | None = None
    check_width_A: float
    n_atoms: int
    check_n_atoms: int
    check_trajectory_path: str
    D_cm2_s: float | None = None
    D_ci95_lo_cm2_s: float | None = None
    D_ci95_hi_cm2_s: float | None = None
    check_D_cm2_s: float | None = None
    check_D_ci95_lo_cm2_s: float | None = None
    check_D_ci95_hi_cm2_s: float | None = None
    D_ratio: float | None = None
    agree: bool | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class BenchmarkRow(Record):
    """One method and material against experiment (built in SQL by `benchmark_table`), from
    the method's fit under the run's protocol (`protocol`)."""

    TABLE: ClassVar[str] = "benchmark_table"
    KEY: ClassVar[tuple[str, ...] | None] = None

    method: str
    material_id: str
    protocol: str
    formula: str
    sigma_exp_mS_cm: float
    sigma_pred_mS_cm: float | None = None
    sigma_pred_ci95_lo_mS_cm: float | None = None
    sigma_pred_ci95_hi_mS_cm: float | None = None
    log10_error: float | None = None
    n_reliable: int
    n_temperatures: int
    Ea_eV: float | None = None
    Ea_ci95_lo_eV: float | None = None
    Ea_ci95_hi_eV: float | None = None
    Ea_nonphysical: bool | None = None
    non_arrhenius: bool | None = None
    sigma_collective_mS_cm: float | None = None
    sigma_collective_ci95_lo_mS_cm: float | None = None
    sigma_collective_ci95_hi_mS_cm: float | None = None
    log10_error_collective: float | None = None
    Ea_collective_eV: float | None = None
    haven_ratio_300: float | None = None
    haven_ratio_300_ci95_lo: float | None = None
    haven_ratio_300_ci95_hi: float | None = None
    collective_reason: str | None = None
    n_replicas: int | None = None
    replicas_consistent: bool | None = None
    n_ols_flagged: int | None = None
    size_consistent: bool | None = None
    size_check_width_A: float | None = None
    size_max_abs_ln_ratio: float | None = None
    gpu_hours: float | None = None
    cpu_hours: float | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class SensitivityRow(Record):
    """One sensitivity variant of a material's Arrhenius fit (`<method>/sensitivity`): kind
    `duration` (trajectories cut to `duration_fraction` of their simulated time), `temperatures`
    (the fit over the subset `variant`), or `relaxation` (the stored fit of protocol `variant`,
    beside its relaxed twin)."""

    TABLE: ClassVar[str] = "sensitivity"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "variant_kind", "variant")

    method: str
    material_id: str
    variant_kind: str
    variant: str
    estimable: bool
    reason: str | None = None
    duration_fraction: float | None = None
    duration_ps: float | None = None
    temperatures_fit_K: list[float] | None = None
    excluded_json: dict | None = None
    sigma300_mS_cm: float | None = None
    sigma300_ci95_lo_mS_cm: float | None = None
    sigma300_ci95_hi_mS_cm: float | None = None
    Ea_eV: float | None = None
    Ea_ci95_lo_eV: float | None = None
    Ea_ci95_hi_eV: float | None = None
    provenance: dict


@dataclass(frozen=True, kw_only=True)
class SensitivitySpreadRow(Record):
    """A material's spread over one kind of variant: max - min of log10 sigma(300 K) in decades
    (`spread_decades`), between `low_variant` and `high_variant`; for `relaxation`,
    `delta_log10_sigma` = relaxed - unrelaxed."""

    TABLE: ClassVar[str] = "sensitivity_spread"
    KEY: ClassVar[tuple[str, ...] | None] = ("method", "material_id", "variant_kind")

    method: str
    material_id: str
    variant_kind: str
    n_variants: int
    spread_decades: float | None = None
    low_variant: str | None = None
    high_variant: str | None = None
    delta_log10_sigma: float | None = None
    reason: str | None = None


#: Every table the warehouse holds, in dependency order.
RECORDS: tuple[type[Record], ...] = (
    ObelixSubsetRow,
    SupercellRow,
    RelaxedCellRow,
    MDTrajectoryRow,
    DiffusionRow,
    ArrheniusRow,
    SizeCheckRow,
    SensitivityRow,
    SensitivitySpreadRow,
    BenchmarkRow,
)

"""How much sigma(300 K) and Ea depend on choices made before the fit, from existing trajectories.

Two kinds of variant, each an Arrhenius fit (`science.arrhenius.fit_arrhenius`) of one material:

* `duration`: every trajectory cut to a fraction (25, 50, 75, 100 %) of its simulated time,
  then the platform's own diffusion analysis (`science.transport.analyze_replicas`, the
  partition's equilibration and fit start) on the cut, then the fit. A run too short to be
  analysed is a reason, never a number. On trajectories of known D the interval narrows and the
  estimate approaches the truth as the cut lengthens (data/benchmarks/sensitivity.md).
* `temperatures`: the fit over every subset of at least `MIN_SUBSET_TEMPERATURES` of the
  available temperatures (`itertools.combinations`), from the stored D samples.

Each kind is summarised per material by its spread: max - min of log10 sigma(300 K) over its
estimable variants, in decades, naming the variants at both ends (`spread`).

`relaxed_comparison` compares, from stored Arrhenius rows of two protocols, each protocol P with
its relaxed twin (`protocols.relaxed_twin`): delta log10 sigma per material and the MAE of each
against experiment.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ionic_assets.science.arrhenius import ArrheniusFit, fit_arrhenius
from ionic_assets.science.errors import NotEstimable
from ionic_assets.science.protocols import relaxed_twin
from ionic_assets.science.trajectory import Trajectory
from ionic_assets.science.transport import analyze_replicas

DURATION_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
MIN_SUBSET_TEMPERATURES = 3
DURATION, TEMPERATURES = "duration", "temperatures"


@dataclass(frozen=True)
class Partition:
    """One temperature's trajectories (replicas, with their seeds) and analysis windows, ps."""

    temperature_K: float
    trajectories: Sequence[Trajectory]
    seeds: Sequence[int]
    equilibration_ps: float
    fit_start_ps: float


@dataclass(frozen=True)
class Variant:
    """One Arrhenius fit of a sensitivity variant, or why there is none.

    Attributes:
        kind: `DURATION` or `TEMPERATURES`.
        label: the variant's value in words ("25%", "800,1000,1200").
        fit: the fit (None with `reason`).
        duration_fraction: the cut's fraction of each run's simulated time (duration only).
        duration_ps: simulated time kept, ps (mean over temperatures; duration only).
    """

    kind: str
    label: str
    fit: ArrheniusFit | None
    reason: str | None = None
    duration_fraction: float | None = None
    duration_ps: float | None = None

    @property
    def sigma300_mS_cm(self) -> float | None:
        return None if self.fit is None else self.fit.sigma300_mS_cm


def truncate(traj: Trajectory, fraction: float) -> Trajectory:
    """The frames within the first `fraction` (0 < f <= 1) of the run's simulated time."""
    time_ps = np.asarray(traj.time_ps, dtype=float)
    keep = time_ps - time_ps[0] <= fraction * (time_ps[-1] - time_ps[0]) + 1e-9
    return dataclasses.replace(traj, positions_A=traj.positions_A[keep], time_ps=time_ps[keep])


def simulated_ps(traj: Trajectory) -> float:
    return float(traj.time_ps[-1] - traj.time_ps[0])


def cut_D_samples(p: Partition, fraction: float, settings) -> tuple[np.ndarray, int, float]:
    """(combined D samples, n_li, volume) of the partition cut to `fraction`; NotEstimable when
    the cut is no longer than the equilibration or the analysis cannot estimate D."""
    cut = [truncate(t, fraction) for t in p.trajectories]
    kept_ps = min(simulated_ps(t) for t in cut)
    if kept_ps <= p.equilibration_ps:
        raise NotEstimable(
            f"cut to {kept_ps:g} ps, no longer than the {p.equilibration_ps:g} ps equilibration"
        )
    transport = analyze_replicas(
        cut,
        p.seeds,
        with_collective=False,
        equilibration_ps=p.equilibration_ps,
        fit_start_ps=p.fit_start_ps,
        settings=settings,
    )
    first = transport.replicas[0]
    return transport.D.samples, first.n_li, first.volume_A3


def duration_variant(
    partitions: Sequence[Partition], fraction: float, settings, left_out: Mapping[float, str]
) -> Variant:
    """The fit when every trajectory is cut to `fraction` of its simulated time; a temperature
    whose cut cannot be analysed is left out with its reason, as `left_out` already is."""
    reasons, temperatures, samples, cells = dict(left_out), [], [], []
    for p in partitions:
        try:
            D, n_li, volume = cut_D_samples(p, fraction, settings)
        except NotEstimable as exc:
            reasons[p.temperature_K] = f"cut to {fraction:.0%}: {exc}"
            continue
        temperatures.append(p.temperature_K)
        samples.append(D)
        cells.append((n_li, volume))
    kept = np.mean([fraction * simulated_ps(t) for p in partitions for t in p.trajectories])
    fit, reason = _fit(temperatures, samples, cells, reasons)
    return Variant(DURATION, f"{fraction:.0%}", fit, reason, fraction, float(kept))


def duration_variants(
    partitions: Sequence[Partition],
    settings,
    left_out: Mapping[float, str] | None = None,
    fractions: Sequence[float] = DURATION_FRACTIONS,
) -> list[Variant]:
    """`duration_variant` at each of `fractions`."""
    return [duration_variant(partitions, f, settings, left_out or {}) for f in fractions]


def temperature_variants(
    temperatures_K: Sequence[float],
    D_samples_cm2_s: Sequence[np.ndarray],
    *,
    n_li: int,
    volume_A3: float,
    min_temperatures: int = MIN_SUBSET_TEMPERATURES,
) -> list[Variant]:
    """The fit over every subset of at least `min_temperatures` temperatures (none when fewer
    are available), smallest subsets first."""
    order = np.argsort(temperatures_K)
    points = [(float(temperatures_K[i]), D_samples_cm2_s[i]) for i in order]
    variants = []
    for size in range(min_temperatures, len(points) + 1):
        for subset in itertools.combinations(points, size):
            temps = [t for t, _ in subset]
            fit, reason = _fit(temps, [s for _, s in subset], [(n_li, volume_A3)] * size, {})
            label = ",".join(f"{t:g}" for t in temps)
            variants.append(Variant(TEMPERATURES, label, fit, reason))
    return variants


def _fit(temperatures, samples, cells, left_out) -> tuple[ArrheniusFit | None, str | None]:
    n_li, volume = cells[0] if cells else (0, 0.0)
    try:
        fit = fit_arrhenius(temperatures, samples, n_li=n_li, volume_A3=volume, left_out=left_out)
        return fit, None
    except NotEstimable as exc:
        return None, str(exc)


@dataclass(frozen=True)
class Spread:
    """max - min of log10 sigma(300 K) over the estimable variants (decades), and which."""

    spread_decades: float
    low: str
    high: str
    n_variants: int


def spread(sigma300_mS_cm: Mapping[str, float | None]) -> Spread | None:
    """The spread of sigma(300 K) (mS/cm) by variant label, leaving out the variants without
    one (None or NaN); None with fewer than two."""
    fitted = {k: v for k, v in sigma300_mS_cm.items() if v is not None and not np.isnan(v)}
    if len(fitted) < 2:
        return None
    log_sigma = {k: float(np.log10(v)) for k, v in fitted.items()}
    low, high = min(log_sigma, key=log_sigma.get), max(log_sigma, key=log_sigma.get)
    return Spread(log_sigma[high] - log_sigma[low], low, high, len(fitted))


def labelled_sigma(variants: Sequence[Variant]) -> dict[str, float | None]:
    """sigma(300 K) by variant label, for `spread`."""
    return {v.label: v.sigma300_mS_cm for v in variants}


def relaxed_comparison(
    fits: pd.DataFrame, sigma_exp_mS_cm: Mapping[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each protocol P against `relaxed_twin(P)`, from Arrhenius rows (`fits`: method,
    material_id, protocol, sigma300_mS_cm; not estimable: NaN) and the measured conductivity
    per material (mS/cm).

    Returns (per material: method, material_id, protocol, relaxed_protocol, sigma300_mS_cm,
    relaxed_sigma300_mS_cm, delta_log10_sigma = relaxed - unrelaxed, log10_error,
    relaxed_log10_error; per method and protocol pair: n_materials, mae_log10_sigma,
    relaxed_mae_log10_sigma over the materials with both predictions and a measurement). Both
    are empty when no protocol has its twin.
    """
    columns = ["method", "material_id", "protocol", "sigma300_mS_cm"]
    rows = fits[columns].dropna(subset=["sigma300_mS_cm"])
    twins = rows.assign(protocol=rows["protocol"].map(_untwin)).dropna(subset=["protocol"])
    pairs = rows.merge(
        twins.rename(columns={"sigma300_mS_cm": "relaxed_sigma300_mS_cm"}),
        on=["method", "material_id", "protocol"],
    )
    pairs.insert(3, "relaxed_protocol", pairs["protocol"].map(relaxed_twin))
    pairs["delta_log10_sigma"] = np.log10(pairs["relaxed_sigma300_mS_cm"] / pairs["sigma300_mS_cm"])
    exp = pairs["material_id"].map(sigma_exp_mS_cm).astype(float)
    pairs["log10_error"] = np.log10(pairs["sigma300_mS_cm"] / exp)
    pairs["relaxed_log10_error"] = np.log10(pairs["relaxed_sigma300_mS_cm"] / exp)
    measured = pairs.dropna(subset=["log10_error"])
    mae = measured.groupby(["method", "protocol", "relaxed_protocol"], as_index=False).agg(
        n_materials=("material_id", "count"),
        mae_log10_sigma=("log10_error", lambda e: e.abs().mean()),
        relaxed_mae_log10_sigma=("relaxed_log10_error", lambda e: e.abs().mean()),
    )
    return pairs, mae


def _untwin(protocol: str) -> str | None:
    """The protocol whose relaxed twin `protocol` is, None when it is nobody's twin."""
    for candidate in (protocol[:cut] for cut in range(len(protocol))):
        if candidate and relaxed_twin(candidate) == protocol:
            return candidate
    return None

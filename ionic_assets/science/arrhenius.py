"""Arrhenius fit of D(T) over the simulated temperatures and extrapolation to room temperature.

D(T) = D0 exp(-Ea / kB T) is fitted as a straight line ln D = ln D0 - (Ea / kB)(1/T) by least
squares. Uncertainty is propagated from each temperature's posterior D samples: every joint draw
(one sample per temperature, drawn independently because the runs are independent) is fitted on
its own, and each reported quantity is the median of its per-draw values with the 2.5th-97.5th
percentiles as its 95% interval. This carries the sampling uncertainty of each D; it does not
add a lack-of-fit term for temperatures that deviate from a straight line. The conductivity at
the extrapolation temperature uses the Nernst-Einstein relation with the simulated cell's Li
count and volume.

A temperature is excluded, with the reason recorded in `ArrheniusFit.excluded`, when more than
2.5% of its D samples are <= 0: its 95% interval then reaches zero, so ln D is undetermined.
Any remaining non-positive samples of the other temperatures (< 2.5%) are dropped before drawing.
A temperature the caller leaves out (a melted framework, `science.melting`) is passed in
`left_out` with its reason and recorded in `excluded` the same way.

Diagnostics kept with every fit (`ArrheniusFit`):

* residuals: observed minus fitted log10 D at each fitted temperature (observed: the median of
  its samples; fitted: the line of the median Ea and ln D0);
* curvature: log10 D = a + b / T + c / T^2 fitted to every joint draw (three or more
  temperatures); c (K^2) with its 95% interval, and `non_arrhenius` when that interval excludes
  zero (the sampling uncertainty alone cannot explain the bend);
* leave-one-temperature-out: the change of the median log10 sigma(300 K) when each temperature
  is left out (three or more temperatures), so the temperature that drives the extrapolation
  shows;
* `Ea_nonphysical`: Ea <= 0, or most of its interval below zero (midpoint < 0): D would rise
  towards room temperature, so the extrapolation is flagged, not trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.constants import Boltzmann, electron_volt

from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.errors import InputError, NotEstimable

KB_EV_K = Boltzmann / electron_volt
#: Largest fraction of non-positive D samples a temperature may have and still be fitted.
MAX_NONPOSITIVE_FRACTION = 0.025
#: The benchmark's room temperature, where D and sigma are extrapolated to, K.
ROOM_TEMPERATURE_K = 300.0


def arrhenius_D_cm2_s(temperature_K, Ea_eV: float, D0_cm2_s: float):
    """The Arrhenius law D(T) = D0 exp(-Ea / kB T): D in cm^2/s at `temperature_K` (K, scalar
    or array) for activation energy `Ea_eV` (eV) and pre-exponential factor `D0_cm2_s`."""
    return D0_cm2_s * np.exp(-Ea_eV / (KB_EV_K * np.asarray(temperature_K, dtype=float)))


@dataclass(frozen=True)
class ArrheniusFit:
    """D(T) = D0 exp(-Ea / kB T), and its extrapolation to `extrapolate_to_K`.

    Values are medians over joint posterior draws; `*_ci95_*` are (2.5th, 97.5th) percentiles.
    The "300" fields hold the values at `extrapolate_to_K` (300 K unless asked otherwise).

    Attributes:
        temperatures_K: temperatures used in the fit, K.
        Ea_eV, Ea_ci95_eV: activation energy, eV.
        D0_cm2_s, D0_ci95_cm2_s: pre-exponential factor, cm^2/s.
        D300_cm2_s, D300_ci95_cm2_s: D at `extrapolate_to_K`, cm^2/s.
        sigma300_mS_cm, sigma300_ci95_mS_cm: Nernst-Einstein conductivity there, mS/cm.
        extrapolate_to_K: extrapolation temperature, K.
        n_li, volume_A3: Li count and cell volume (Angstrom^3) used for the conductivity.
        n_draws: joint posterior draws fitted.
        excluded: temperature (K) -> reason, for temperatures left out of the fit.
        residuals_log10_D: observed minus fitted log10 D per fitted temperature.
        curvature_K2, curvature_ci95_K2: c of log10 D = a + b/T + c/T^2, K^2 (None with fewer
            than 3 temperatures).
        loo_delta_log10_sigma300: change of log10 sigma(300 K) when each fitted temperature is
            left out (None with fewer than 3 temperatures).
        D300_draws_cm2_s: D at `extrapolate_to_K` of every joint draw (for ratios of routes).
    """

    temperatures_K: tuple[float, ...]
    Ea_eV: float
    Ea_ci95_eV: tuple[float, float]
    D0_cm2_s: float
    D0_ci95_cm2_s: tuple[float, float]
    D300_cm2_s: float
    D300_ci95_cm2_s: tuple[float, float]
    sigma300_mS_cm: float
    sigma300_ci95_mS_cm: tuple[float, float]
    extrapolate_to_K: float
    n_li: int
    volume_A3: float
    n_draws: int
    excluded: dict[float, str] = field(default_factory=dict)
    residuals_log10_D: tuple[float, ...] = ()
    curvature_K2: float | None = None
    curvature_ci95_K2: tuple[float, float] | None = None
    loo_delta_log10_sigma300: tuple[float, ...] | None = None
    D300_draws_cm2_s: np.ndarray | None = None

    @property
    def non_arrhenius(self) -> bool | None:
        """The curvature's 95% interval excludes zero (None when it is not determined)."""
        if self.curvature_ci95_K2 is None:
            return None
        lo, hi = self.curvature_ci95_K2
        return bool(lo > 0 or hi < 0)

    @property
    def Ea_nonphysical(self) -> bool:
        """Ea <= 0, or most of its 95% interval below zero."""
        lo, hi = self.Ea_ci95_eV
        return bool(self.Ea_eV <= 0 or (lo + hi) / 2 < 0)

    def diagnostics_row(self) -> dict:
        """The diagnostic columns of a warehouse row (names shared with the figures)."""
        lo, hi = self.curvature_ci95_K2 or (None, None)
        loo = self.loo_delta_log10_sigma300
        return {
            "residuals_log10_D": list(self.residuals_log10_D),
            "curvature_K2": self.curvature_K2,
            "curvature_ci95_lo_K2": lo,
            "curvature_ci95_hi_K2": hi,
            "non_arrhenius": self.non_arrhenius,
            "loo_delta_log10_sigma300": None if loo is None else list(loo),
            "Ea_nonphysical": self.Ea_nonphysical,
        }

    def as_row(self) -> dict:
        """Flat dict for a warehouse row (intervals split into _lo/_hi columns)."""
        row = {
            "temperatures_fit_K": [float(t) for t in self.temperatures_K],
            "extrapolate_to_K": self.extrapolate_to_K,
            "n_li": self.n_li,
            "volume_A3": self.volume_A3,
            "n_draws": self.n_draws,
            "excluded_json": {f"{t:g}": r for t, r in self.excluded.items()},
        }
        for name, unit in (("Ea", "eV"), ("D0", "cm2_s"), ("D300", "cm2_s"), ("sigma300", "mS_cm")):
            lo, hi = getattr(self, f"{name}_ci95_{unit}")
            row[f"{name}_{unit}"] = getattr(self, f"{name}_{unit}")
            row[f"{name}_ci95_lo_{unit}"] = lo
            row[f"{name}_ci95_hi_{unit}"] = hi
        return row | self.diagnostics_row()


def fit_arrhenius(
    temperatures_K: Sequence[float],
    D_samples_cm2_s: Sequence[np.ndarray],
    *,
    n_li: int,
    volume_A3: float,
    extrapolate_to_K: float = ROOM_TEMPERATURE_K,
    n_draws: int = 4000,
    seed: int = 0,
    left_out: Mapping[float, str] | None = None,
) -> ArrheniusFit:
    """Fit D(T) over any number (>= 2) of temperatures and extrapolate to `extrapolate_to_K`.

    `D_samples_cm2_s[i]`: posterior samples of D (cm^2/s) at `temperatures_K[i]` (K); a single
    value is a point estimate without uncertainty. `n_li`, `volume_A3` (Angstrom^3): the simulated
    cell, for the Nernst-Einstein conductivity. `left_out`: temperatures (K) the caller did not
    pass, with the reason, recorded in `ArrheniusFit.excluded` beside the fit's own exclusions.

    Raises:
        InputError: mismatched lengths, non-positive temperatures, empty or non-finite samples,
            non-positive Li count or volume.
        NotEstimable: fewer than 2 distinct temperatures left after exclusions.
    """
    if len(temperatures_K) != len(D_samples_cm2_s):
        raise InputError(
            f"Arrhenius: {len(temperatures_K)} temperatures but {len(D_samples_cm2_s)} sample sets"
        )
    temps = np.asarray(temperatures_K, dtype=float)
    if not np.all(temps > 0):
        raise InputError(f"Arrhenius: temperatures must be positive (got {temps.tolist()})")
    samples = [_checked_samples(t, s) for t, s in zip(temps, D_samples_cm2_s, strict=True)]
    reasons = [_exclusion(s) for s in samples]
    excluded = {float(t): r for t, r in (left_out or {}).items()}
    excluded |= {float(t): r for t, r in zip(temps, reasons, strict=True) if r}
    kept = [(t, s[s > 0]) for t, s, r in zip(temps, samples, reasons, strict=True) if r is None]
    if len({t for t, _ in kept}) < 2:
        why = "; ".join(f"{t:g} K: {r}" for t, r in excluded.items())
        raise NotEstimable(
            f"Arrhenius: fewer than 2 distinct temperatures to fit{f' ({why})' if why else ''}"
        )
    if not (n_li > 0 and volume_A3 > 0):
        raise InputError(f"Arrhenius: need positive Li count and volume ({n_li}, {volume_A3})")

    fit_temps = np.array([t for t, _ in kept])
    ln_D = _joint_draws([s for _, s in kept], n_draws, np.random.default_rng(seed))
    Ea_eV, ln_D0 = _fit_lines(1.0 / fit_temps, ln_D)
    D300 = np.exp(ln_D0 - Ea_eV / (KB_EV_K * extrapolate_to_K))
    sigma_per_D = nernst_einstein_sigma_mS_cm(1.0, n_li, volume_A3, extrapolate_to_K)
    observed = np.array([np.log10(np.median(s)) for _, s in kept])
    fitted = (np.median(ln_D0) - np.median(Ea_eV) / (KB_EV_K * fit_temps)) / np.log(10)
    curvature = _curvature(1.0 / fit_temps, ln_D / np.log(10))
    return ArrheniusFit(
        temperatures_K=tuple(float(t) for t in fit_temps),
        Ea_eV=float(np.median(Ea_eV)),
        Ea_ci95_eV=_ci95(Ea_eV),
        D0_cm2_s=float(np.exp(np.median(ln_D0))),
        D0_ci95_cm2_s=_ci95(np.exp(ln_D0)),
        D300_cm2_s=float(np.median(D300)),
        D300_ci95_cm2_s=_ci95(D300),
        sigma300_mS_cm=float(np.median(D300) * sigma_per_D),
        sigma300_ci95_mS_cm=_ci95(D300 * sigma_per_D),
        extrapolate_to_K=float(extrapolate_to_K),
        n_li=int(n_li),
        volume_A3=float(volume_A3),
        n_draws=n_draws,
        excluded=excluded,
        residuals_log10_D=tuple(float(r) for r in observed - fitted),
        curvature_K2=None if curvature is None else float(np.median(curvature)),
        curvature_ci95_K2=None if curvature is None else _ci95(curvature),
        loo_delta_log10_sigma300=_leave_one_out(1.0 / fit_temps, ln_D, extrapolate_to_K),
        D300_draws_cm2_s=D300,
    )


def _checked_samples(temperature_K: float, samples) -> np.ndarray:
    values = np.asarray(samples, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise InputError(f"Arrhenius: D samples at {temperature_K:g} K are empty or not finite")
    return values


def _exclusion(samples: np.ndarray) -> str | None:
    """Why this temperature cannot be fitted in log D, or None if it can."""
    nonpositive = float(np.mean(samples <= 0))
    if nonpositive > MAX_NONPOSITIVE_FRACTION:
        return (
            f"{100 * nonpositive:.1f}% of D samples are <= 0 (95% interval reaches zero; "
            "ln D undetermined)"
        )
    return None


def _joint_draws(samples: list[np.ndarray], n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws, n_temperatures) ln D, one independently resampled value per temperature."""
    return np.log(np.column_stack([rng.choice(s, size=n_draws) for s in samples]))


def _fit_lines(inv_T: np.ndarray, ln_D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ln D = ln D0 - (Ea / kB) / T for every row of `ln_D`: (Ea_eV, ln D0)."""
    x = inv_T - inv_T.mean()
    slope = (ln_D - ln_D.mean(axis=1, keepdims=True)) @ x / (x @ x)
    ln_D0 = ln_D.mean(axis=1) - slope * inv_T.mean()
    return -slope * KB_EV_K, ln_D0


def _curvature(inv_T: np.ndarray, log10_D: np.ndarray) -> np.ndarray | None:
    """c (K^2) of log10 D = a + b x + c x^2, x = 1/T, for every row; None below 3 temperatures.
    Fitted in the standardized u = (x - mean) / sd, where c = c_u / sd^2, for conditioning."""
    if len(inv_T) < 3:
        return None
    scale = inv_T.std()
    u = (inv_T - inv_T.mean()) / scale
    design = np.column_stack([np.ones_like(u), u, u**2])
    coefficients = np.linalg.lstsq(design, log10_D.T, rcond=None)[0]
    return coefficients[2] / scale**2


def _leave_one_out(inv_T: np.ndarray, ln_D: np.ndarray, at_K: float) -> tuple[float, ...] | None:
    """Change of the median log10 D(at_K) (= of log10 sigma there) when each temperature is left
    out of the fit of the same draws; None below 3 temperatures."""
    if len(inv_T) < 3:
        return None

    def median_log10_D(columns: np.ndarray) -> float:
        Ea_eV, ln_D0 = _fit_lines(inv_T[columns], ln_D[:, columns])
        return float(np.median(ln_D0 - Ea_eV / (KB_EV_K * at_K)) / np.log(10))

    everything = median_log10_D(np.arange(len(inv_T)))
    keep = [np.delete(np.arange(len(inv_T)), i) for i in range(len(inv_T))]
    return tuple(median_log10_D(k) - everything for k in keep)


def _ci95(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def collective_route(
    temperatures_K: Sequence[float],
    D_sigma_samples_cm2_s: Sequence[np.ndarray | None],
    reasons: Sequence[str | None],
    *,
    n_li: int,
    volume_A3: float,
    tracer: ArrheniusFit | None,
) -> dict:
    """The collective route's columns of an arrhenius_fits row: Ea and sigma at 300 K from the
    charge diffusion coefficient D_sigma (cm^2/s) of each temperature whose collective estimate
    exists (`reasons[i]` says why not), and the Haven ratio at 300 K against `tracer`. Not
    estimable is a `collective_reason`, never a number."""
    have = [i for i, s in enumerate(D_sigma_samples_cm2_s) if s is not None]
    missing = "; ".join(
        f"{temperatures_K[i]:g} K: {reasons[i]}" for i in range(len(reasons)) if i not in have
    )
    try:
        fit = fit_arrhenius(
            [temperatures_K[i] for i in have],
            [D_sigma_samples_cm2_s[i] for i in have],
            n_li=n_li,
            volume_A3=volume_A3,
        )
    except NotEstimable as exc:
        return {"collective_reason": f"{exc}{f' ({missing})' if missing else ''}"}
    row = {
        f"collective_{k}": v for k, v in fit.as_row().items() if k.startswith(("Ea_", "sigma300"))
    }
    row.pop("collective_Ea_nonphysical")
    row["collective_reason"] = missing or None
    if tracer is not None:
        ratio = tracer.D300_draws_cm2_s / fit.D300_draws_cm2_s
        row["haven_ratio_300"] = float(np.median(ratio))
        row["haven_ratio_300_ci95_lo"], row["haven_ratio_300_ci95_hi"] = _ci95(ratio)
    return row

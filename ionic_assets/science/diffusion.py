"""Li tracer diffusion coefficient from an MD trajectory, with kinisi 2.0.1's Bayesian MSD fit.

kinisi computes the Li mean-squared displacement (MSD) over many time origins, models the
covariance between the MSD points, and samples the posterior of the straight line
MSD(dt) = 6 D dt + intercept from `fit_start_ps` on (McCluskey et al., JCTC 21, 79 (2024)).
D is reported in cm^2/s, the MSD in Angstrom^2, times in picoseconds.

Settings (validated on Brownian trajectories of known D, see `ionic_assets.benchmarks.known_d`
and data/benchmarks/known_d.md):

* `DEFAULT_SETTINGS`: the MSD at 200 log-spaced time intervals from one frame to the whole
  analysed window, rounded to whole frames (140 distinct lags on 2000 frames), fitted from 3 ps.
  Its accuracy, interval coverage and cost per estimate are in data/benchmarks/known_d.md.
* `PAPER_SETTINGS`: kinisi's defaults as in its 2.0.1 documentation example, which the paper used
  unchanged: every time interval of the trajectory, fit from 3 ps, emcee 32 walkers x 1000 steps
  after 500 burn-in, thinned by 10. As accurate on the same data but many times slower: kinisi's
  covariance matrix has one row per interval.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import kinisi
import numpy as np
import scipp as sc
from ase.data import atomic_numbers
from kinisi.analyze import DiffusionAnalyzer
from kinisi.displacement import calculate_msd
from kinisi.parser import Parser

from ionic_assets.science.errors import InputError, NotEstimable
from ionic_assets.science.trajectory import Trajectory

#: The fit needs this many MSD points in the diffusive regime to say anything about the slope.
MIN_FIT_INTERVALS = 10
#: Relative tolerance on equal frame spacing (text formats round the times they store).
SPACING_RTOL = 1e-3
#: 1 Angstrom^2/ps in cm^2/s (1e-16 cm^2 / 1e-12 s).
CM2_S_PER_A2_PS = 1e-4
#: kinisi's D and the ordinary-least-squares D over the same window may differ by at most this
#: factor. On healthy fits they agree within tens of percent (Brownian trajectories, see
#: ionic_assets_tests/science/test_fit_checks.py); kinisi 2.0.1's covariance-weighted regression
#: can return a slope off by up to 1000x in about 1 in 5,000 fits (kinisi PR 222).
OLS_AGREEMENT_FACTOR = 3.0


@dataclass(frozen=True)
class DiffusionSettings:
    """How the MSD is sampled and fitted.

    Attributes:
        n_time_intervals: number of log-spaced time intervals (frame lags, from one frame to the
            whole analysed window) at which the MSD is computed; None: every lag, kinisi's default.
        fit_start_ps: start of the diffusive regime, ps; the line is fitted from here on.
        n_samples, n_walkers, n_burn, n_thin: emcee posterior sampling (kinisi's defaults).
        n_returned_samples: at most this many posterior D samples are kept in the estimate.
    """

    n_time_intervals: int | None = 200
    fit_start_ps: float = 3.0
    n_samples: int = 1000
    n_walkers: int = 32
    n_burn: int = 500
    n_thin: int = 10
    n_returned_samples: int = 1000


DEFAULT_SETTINGS = DiffusionSettings()
PAPER_SETTINGS = DiffusionSettings(n_time_intervals=None)
NAMED_SETTINGS = {"default": DEFAULT_SETTINGS, "paper": PAPER_SETTINGS}


def named_settings(name: str) -> DiffusionSettings:
    """The settings called `name` ("default" or "paper")."""
    try:
        return NAMED_SETTINGS[name]
    except KeyError:
        raise InputError(
            f"diffusion settings {name!r}: unknown (choose from {', '.join(NAMED_SETTINGS)})"
        ) from None


@dataclass(frozen=True)
class DiffusionEstimate:
    """Tracer diffusion coefficient of one element in one trajectory.

    Attributes:
        D_cm2_s: posterior median of D, cm^2/s.
        D_ci95_cm2_s: (2.5th, 97.5th) posterior percentiles of D, cm^2/s.
        D_samples_cm2_s: up to `n_returned_samples` posterior samples of D, cm^2/s.
        msd_dt_ps: time intervals of the MSD curve, ps.
        msd_A2: MSD at each interval (mean over atoms and time origins), Angstrom^2.
        msd_std_A2: kinisi's standard deviation of each MSD point, Angstrom^2.
        msd_max_A2: largest MSD over the analysed intervals, Angstrom^2 (the paper's
            "MSD reached" reliability measure, e.g. >= 20 Angstrom^2).
        n_frames: frames analysed (after the equilibration).
        n_li: atoms of the element analysed.
        D_ols_cm2_s: D from an ordinary-least-squares line through the same MSD points over the
            same window (`ols_D_cm2_s`), cm^2/s: the independent check of kinisi's slope.
        provenance: kinisi version, settings, seed and what was analysed.
    """

    D_cm2_s: float
    D_ci95_cm2_s: tuple[float, float]
    D_samples_cm2_s: np.ndarray
    msd_dt_ps: np.ndarray
    msd_A2: np.ndarray
    msd_std_A2: np.ndarray
    msd_max_A2: float
    n_frames: int
    n_li: int
    D_ols_cm2_s: float
    provenance: dict

    @property
    def ols_agrees(self) -> bool:
        """kinisi's D is within `OLS_AGREEMENT_FACTOR` of the OLS D (both positive)."""
        return ols_agrees(self.D_cm2_s, self.D_ols_cm2_s)


def estimate_diffusion(
    traj: Trajectory,
    *,
    equilibration_ps: float,
    settings: DiffusionSettings = DEFAULT_SETTINGS,
    element: str = "Li",
    seed: int = 0,
) -> DiffusionEstimate:
    """Tracer D of `element` from the frames after the first `equilibration_ps` picoseconds.

    Framework drift is removed by kinisi (mean displacement of all other atoms). The same `seed`
    gives the same posterior samples.

    Raises:
        InputError: no atom of `element`, times not strictly increasing or not evenly spaced,
            equilibration negative or not shorter than the run.
        NotEstimable: too few time intervals after `settings.fit_start_ps` to fit a slope, or
            an MSD without scatter (atoms that never move).
    """
    parser, positions_A, frame_ps, mobile = prepare_parser(
        traj, equilibration_ps, settings, element
    )
    analyzer = DiffusionAnalyzer(parser)
    analyzer._da = calculate_msd(parser, progress=False)  # what from_ase() does after parsing
    require_spread(analyzer.da, element)
    sample_posterior(analyzer.diffusion, settings, seed)

    samples = np.asarray(analyzer.D.values, dtype=float)  # cm^2/s
    msd = analyzer.da
    msd_A2 = np.asarray(msd.values, dtype=float)
    msd_dt_ps = np.asarray(msd.coords["time interval"].values, dtype=float)
    return DiffusionEstimate(
        D_cm2_s=float(np.median(samples)),
        D_ci95_cm2_s=tuple(float(x) for x in np.percentile(samples, [2.5, 97.5])),
        D_samples_cm2_s=_thin(samples, settings.n_returned_samples),
        msd_dt_ps=msd_dt_ps,
        msd_A2=msd_A2,
        msd_std_A2=np.sqrt(np.asarray(msd.variances, dtype=float)),
        msd_max_A2=float(msd_A2.max()),
        n_frames=len(positions_A),
        n_li=len(mobile),
        D_ols_cm2_s=ols_D_cm2_s(msd_dt_ps, msd_A2, settings.fit_start_ps),
        provenance={
            "kinisi_version": kinisi.__version__,
            "settings": asdict(settings),
            "seed": seed,
            "element": element,
            "equilibration_ps": float(equilibration_ps),
            "frame_interval_ps": frame_ps,
            "n_msd_points": len(msd_A2),
            "n_drift_reference_atoms": traj.n_atoms - len(mobile),
            "D_statistic": "posterior median; interval: 2.5th-97.5th posterior percentiles",
            "ols_agreement_factor": OLS_AGREEMENT_FACTOR,
        },
    )


def prepare_parser(
    traj: Trajectory,
    equilibration_ps: float,
    settings: DiffusionSettings,
    element: str,
    max_lag_fraction: float = 1.0,
) -> tuple[Parser, np.ndarray, float, np.ndarray]:
    """kinisi's parser of the production frames, with the checks every MSD analysis needs:
    (parser, positions in Angstrom, frame interval in ps, indices of `element`). Lags longer
    than `max_lag_fraction` of the analysed window are left out."""
    mobile = _mobile_indices(traj, element)
    positions_A, frame_ps = _production_frames(traj, equilibration_ps)
    lags = _lags(len(positions_A), settings.n_time_intervals)
    lags = lags[lags <= max_lag_fraction * (len(positions_A) - 1)]
    _require_fit_points(lags * frame_ps, settings.fit_start_ps)
    explicit = settings.n_time_intervals is not None or max_lag_fraction < 1
    parser = _kinisi_parser(positions_A, frame_ps, mobile, lags if explicit else None)
    return parser, positions_A, frame_ps, mobile


def ols_D_cm2_s(msd_dt_ps: np.ndarray, msd_A2: np.ndarray, fit_start_ps: float) -> float:
    """D (cm^2/s) from an unweighted least-squares line MSD = 6 D dt + b through the MSD points
    from `fit_start_ps` on: the independent check of kinisi's covariance-weighted slope."""
    window = np.asarray(msd_dt_ps) >= fit_start_ps
    slope_A2_ps = np.polyfit(np.asarray(msd_dt_ps)[window], np.asarray(msd_A2)[window], 1)[0]
    return float(slope_A2_ps / 6 * CM2_S_PER_A2_PS)


def ols_agrees(D_cm2_s: float, D_ols_cm2_s: float, factor: float = OLS_AGREEMENT_FACTOR) -> bool:
    """True when both slopes are positive and within `factor` of each other."""
    if not (D_cm2_s > 0 and D_ols_cm2_s > 0):
        return False
    return 1 / factor <= D_cm2_s / D_ols_cm2_s <= factor


def _mobile_indices(traj: Trajectory, element: str) -> np.ndarray:
    if element not in atomic_numbers:
        raise InputError(f"diffusion: unknown element {element!r}")
    mobile = traj.indices_of(atomic_numbers[element])
    if len(mobile) == 0:
        raise InputError(f"diffusion: the trajectory has no {element} atoms")
    return mobile


def _production_frames(traj: Trajectory, equilibration_ps: float) -> tuple[np.ndarray, float]:
    """Positions after the equilibration, and their (uniform) frame interval in ps."""
    time_ps = np.asarray(traj.time_ps, dtype=float)
    if len(time_ps) < 2 or np.any(np.diff(time_ps) <= 0):
        raise InputError("diffusion: frame times must be strictly increasing (>= 2 frames)")
    duration_ps = time_ps[-1] - time_ps[0]
    if not 0 <= equilibration_ps < duration_ps:
        raise InputError(
            f"diffusion: equilibration {equilibration_ps:g} ps must be >= 0 and shorter than "
            f"the {duration_ps:g} ps run"
        )
    positions_A = np.asarray(traj.positions_A, dtype=float)
    if positions_A.ndim != 3 or positions_A.shape[0] != len(time_ps):
        raise InputError("diffusion: positions must be (n_frames, n_atoms, 3), one per frame time")
    if not np.isfinite(positions_A).all():
        raise InputError("diffusion: positions contain NaN or infinite values")
    keep = time_ps - time_ps[0] >= equilibration_ps
    steps = np.diff(time_ps[keep])
    frame_ps = float(np.median(steps)) if len(steps) else 0.0
    if len(steps) and not np.allclose(steps, frame_ps, rtol=SPACING_RTOL, atol=0):
        raise InputError("diffusion: frames are not evenly spaced in time")
    return positions_A[keep], frame_ps


def _lags(n_frames: int, n_time_intervals: int | None) -> np.ndarray:
    """Frame lags at which the MSD is computed: all of them, or ~n log-spaced distinct ones."""
    if n_frames < 2:
        return np.arange(0)
    if n_time_intervals is None:
        return np.arange(1, n_frames)
    return np.unique(np.geomspace(1, n_frames - 1, n_time_intervals).round().astype(int))


def _require_fit_points(lag_ps: np.ndarray, fit_start_ps: float) -> None:
    n_fit = int(np.sum(lag_ps >= fit_start_ps))
    if n_fit < MIN_FIT_INTERVALS:
        window = f"{lag_ps[-1]:g} ps" if len(lag_ps) else "a single frame"
        raise NotEstimable(
            f"diffusion: the analysed window ({window}) has {n_fit} MSD time intervals from the "
            f"fit start {fit_start_ps:g} ps on; at least {MIN_FIT_INTERVALS} are needed"
        )


def require_spread(msd: sc.DataArray, element: str) -> None:
    """kinisi's covariance model needs MSD scatter between atoms and time origins."""
    variances = np.asarray(msd.variances, dtype=float)
    if not (np.isfinite(variances).all() and np.all(variances > 0)):
        raise NotEstimable(
            f"diffusion: the {element} MSD has no scatter between atoms and time origins "
            f"(the {element} atoms do not move, or all move alike)"
        )


def _kinisi_parser(
    positions_A: np.ndarray, frame_ps: float, mobile: np.ndarray, lags: np.ndarray | None
) -> Parser:
    """kinisi's generic parser fed with our unwrapped Cartesian positions.

    `lags`: the frame lags of the MSD; None leaves kinisi's default (every lag, as the paper).

    kinisi re-unwraps positions from frame-to-frame differences in the cell. Ours are already
    unwrapped, so we hand it a cubic box much larger than any displacement: its unwrapping is
    then exactly the identity, whatever the real cell shape (a triclinic cell would also cost an
    8-image search per atom and frame).
    """
    n_frames, n_atoms, _ = positions_A.shape
    box_A = 4.0 * float(np.abs(positions_A).max()) + 1000.0
    coords = sc.array(dims=["time", "particle", "dimension"], values=positions_A / box_A)
    lattice = np.repeat((box_A * np.eye(3))[None], n_frames, axis=0)
    framework = np.setdiff1d(np.arange(n_atoms), mobile)
    return Parser(
        coords=coords,
        latt=sc.array(dims=["time", "dimension1", "dimension2"], values=lattice, unit="angstrom"),
        time_step=sc.scalar(frame_ps, unit="ps"),
        step_skip=sc.scalar(1.0),
        dt=None if lags is None else _lag_times(lags, frame_ps),
        specie_indices=sc.array(dims=["particle"], values=mobile),
        drift_indices=sc.array(dims=["particle"], values=framework),
    )


def _lag_times(lags: np.ndarray, frame_ps: float) -> sc.Variable:
    """Lag times that kinisi maps back to exactly `lags` frames.

    kinisi 2.0.1 recovers each lag as int(dt / frame interval), truncating: a time that rounds
    to just below the whole number of frames would silently shift that lag by one frame (with
    its own all-lags default this happens to ~5% of the lags), so such times are nudged up.
    """
    dt = lags * frame_ps
    while (short := np.floor(dt / frame_ps) < lags).any():
        dt[short] = np.nextafter(dt[short], np.inf)
    return sc.array(dims=["time interval"], values=dt, unit="ps")


def sample_posterior(sampler, settings: DiffusionSettings, seed: int, **kwargs) -> None:
    """Run kinisi's posterior sampling `sampler` (an analyzer's `diffusion` or `conductivity`
    method; `kwargs` are its own arguments), reproducibly and without side effects.

    kinisi seeds numpy's global random generator (emcee draws from it), so the caller's global
    state is restored afterwards. scipy's optimizer warns when kinisi's likelihood returns -inf
    for negative slopes while finding the starting point; that is expected, not a fault.
    """
    global_state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sampler(
                sc.scalar(settings.fit_start_ps, unit="ps"),
                **kwargs,
                n_samples=settings.n_samples,
                n_walkers=settings.n_walkers,
                n_burn=settings.n_burn,
                n_thin=settings.n_thin,
                progress=False,
                random_state=np.random.RandomState(seed),
            )
    finally:
        np.random.set_state(global_state)


def _thin(samples: np.ndarray, n: int) -> np.ndarray:
    """At most `n` samples, evenly spaced through the (walker-interleaved) chain."""
    if len(samples) <= n:
        return samples.copy()
    return samples[np.linspace(0, len(samples) - 1, n).round().astype(int)]

"""Sensitivity variants against known answers: Brownian trajectories of known D(T) cut short,
hand-fitted temperature subsets, and the relaxed-vs-unrelaxed comparison on constructed rows."""

import math

import numpy as np
import pandas as pd
import pytest

from ionic_assets.science import sensitivity
from ionic_assets.science.arrhenius import KB_EV_K
from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.diffusion import DEFAULT_SETTINGS
from ionic_assets.science.protocols import relaxed_twin
from ionic_assets.science.synthetic import brownian_trajectory

EA_EV, D0_CM2_S, N_LI, BOX_A = 0.30, 1e-3, 64, 15.0


def _D(temperature_K: float) -> float:
    return D0_CM2_S * math.exp(-EA_EV / (KB_EV_K * temperature_K))


def _partition(temperature_K: float, seed: int) -> sensitivity.Partition:
    traj = brownian_trajectory(seed=seed, D_cm2_s=_D(temperature_K), n_frames=500, n_li=N_LI,
                               n_framework=16, frame_interval_ps=0.1, box_A=BOX_A)  # fmt: skip
    traj = traj.__class__(**{**traj.__dict__, "temperature_K": temperature_K})
    return sensitivity.Partition(temperature_K, [traj], [0], 1.0, 3.0)


@pytest.fixture(scope="module")
def by_duration():
    partitions = [_partition(t, seed) for seed, t in enumerate((800.0, 1000.0, 1200.0), 1)]
    return sensitivity.duration_variants(partitions, DEFAULT_SETTINGS)


def test_longer_cuts_narrow_the_interval_and_approach_the_known_sigma(by_duration):
    true_log = math.log10(nernst_einstein_sigma_mS_cm(_D(300.0), N_LI, BOX_A**3, 300.0))
    assert [v.label for v in by_duration] == ["25%", "50%", "75%", "100%"]
    assert [v.duration_ps for v in by_duration] == pytest.approx([12.475, 24.95, 37.425, 49.9])
    widths = [np.log10(v.fit.sigma300_ci95_mS_cm[1] / v.fit.sigma300_ci95_mS_cm[0])
              for v in by_duration]  # fmt: skip
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))
    errors = [abs(math.log10(v.fit.sigma300_mS_cm) - true_log) for v in by_duration]
    assert errors[-1] < errors[0]
    lo, hi = by_duration[-1].fit.sigma300_ci95_mS_cm
    assert math.log10(lo) <= true_log <= math.log10(hi)
    assert abs(by_duration[-1].fit.Ea_eV - EA_EV) < abs(by_duration[0].fit.Ea_eV - EA_EV) + 0.02


def test_a_cut_inside_the_equilibration_is_a_reason_not_a_number():
    partition = _partition(1000.0, 7)
    variant = sensitivity.duration_variant([partition], 0.01, DEFAULT_SETTINGS, {})
    assert variant.fit is None
    assert "1000 K: cut to 1%: cut to 0.4 ps, no longer than the 1 ps equilibration" in (
        variant.reason
    )


def test_truncate_keeps_the_first_fraction_of_the_run():
    traj = brownian_trajectory(seed=1, n_frames=11, frame_interval_ps=1.0)
    cut = sensitivity.truncate(traj, 0.5)
    assert cut.time_ps.tolist() == [0, 1, 2, 3, 4, 5] and cut.positions_A.shape[0] == 6


TEMPS_K = (800.0, 1000.0, 1200.0, 1500.0)


def _point_D(temperature_K: float) -> float:
    """On the line Ea = 0.3 eV except 1500 K, doubled."""
    return _D(temperature_K) * (2.0 if temperature_K == 1500.0 else 1.0)


def test_temperature_subsets_against_a_hand_fit():
    variants = sensitivity.temperature_variants(
        TEMPS_K, [np.array([_point_D(t)]) for t in TEMPS_K], n_li=N_LI, volume_A3=BOX_A**3
    )
    assert [v.label for v in variants] == [
        "800,1000,1200", "800,1000,1500", "800,1200,1500", "1000,1200,1500", "800,1000,1200,1500",
    ]  # fmt: skip
    for v in variants:  # least squares of ln D on 1/T, by numpy
        temps = [float(t) for t in v.label.split(",")]
        slope, intercept = np.polyfit(1 / np.array(temps), np.log([_point_D(t) for t in temps]), 1)
        D300 = math.exp(intercept + slope / 300.0)
        assert v.fit.Ea_eV == pytest.approx(-slope * KB_EV_K, rel=1e-9)
        assert v.fit.sigma300_mS_cm == pytest.approx(
            nernst_einstein_sigma_mS_cm(D300, N_LI, BOX_A**3, 300.0), rel=1e-9
        )
    assert variants[0].fit.Ea_eV == pytest.approx(EA_EV, rel=1e-9)
    result = sensitivity.spread(sensitivity.labelled_sigma(variants))
    log_sigma = [math.log10(v.fit.sigma300_mS_cm) for v in variants]
    assert result.spread_decades == pytest.approx(max(log_sigma) - min(log_sigma))
    # the doubled D at 1500 K steepens the line (higher Ea, lower sigma(300 K)), most when it is
    # paired with the hottest other temperatures; without it the line is the true one
    assert (result.low, result.high, result.n_variants) == ("1000,1200,1500", "800,1000,1200", 5)


def test_fewer_than_three_temperatures_have_no_subsets():
    two = sensitivity.temperature_variants([800.0, 1000.0], [np.ones(1)] * 2, n_li=1, volume_A3=1)
    assert two == [] and sensitivity.spread({}) is None


def test_relaxed_against_unrelaxed_on_constructed_rows():
    fits = pd.DataFrame(
        [
            ("chgnet", "a", "paper", 1.0),
            ("chgnet", "a", "paper-relaxed", 10.0),
            ("chgnet", "b", "paper", 0.1),
            ("chgnet", "b", "paper-relaxed", 0.01),
            ("chgnet", "c", "paper", 1.0),  # no relaxed run
            ("chgnet", "d", "smoke-relaxed", 1.0),  # no unrelaxed run
            ("chgnet", "e", "paper", np.nan),  # not estimable
            ("chgnet", "e", "paper-relaxed", 1.0),
        ],
        columns=["method", "material_id", "protocol", "sigma300_mS_cm"],
    )
    pairs, mae = sensitivity.relaxed_comparison(fits, {"a": 10.0, "b": 0.01, "c": 1.0})
    assert pairs["material_id"].tolist() == ["a", "b"]
    assert pairs["relaxed_protocol"].tolist() == ["paper-relaxed"] * 2
    assert pairs["delta_log10_sigma"].tolist() == pytest.approx([1.0, -1.0])
    assert pairs["log10_error"].tolist() == pytest.approx([-1.0, 1.0])
    (row,) = mae.itertuples()
    assert (row.n_materials, row.mae_log10_sigma, row.relaxed_mae_log10_sigma) == (2, 1.0, 0.0)
    assert relaxed_twin("smoke") == "smoke-relaxed"

"""Adaptive stopping on trajectories of known D (Brownian Li, science/synthetic.py)."""

import pytest

from ionic_assets.science.diffusion import DEFAULT_SETTINGS
from ionic_assets.science.errors import InputError
from ionic_assets.science.md.adaptive import (
    CONVERGED,
    NON_DIFFUSIVE,
    AdaptiveRule,
    evaluate,
    rule_from_dict,
)
from ionic_assets.science.protocols import load_protocol
from ionic_assets.science.synthetic import brownian_trajectory

RULE = AdaptiveRule()
FRAME_PS = 0.05  # the paper protocol's 25 steps x 2 fs


def judge(D_cm2_s, time_ps, seed=3):
    trajectory = brownian_trajectory(
        seed=seed,
        D_cm2_s=D_cm2_s,
        n_frames=round(time_ps / FRAME_PS) + 1,
        frame_interval_ps=FRAME_PS,
    )
    return evaluate(
        trajectory, RULE, equilibration_ps=5.0, max_duration_ps=100.0, settings=DEFAULT_SETTINGS
    )


def test_fast_diffuser_stops_converged_with_the_true_D():
    decision = judge(3e-5, 20.0)
    assert decision.reason == CONVERGED and decision.time_ps == pytest.approx(20.0)
    assert decision.msd_max_A2 > 20
    lo, hi = decision.D_ci95_cm2_s
    assert lo <= 3e-5 <= hi and hi / decision.D_cm2_s <= 1.2


@pytest.mark.slow
def test_no_diffusion_stops_as_non_diffusive_but_not_before_its_time():
    assert judge(1e-8, 20.0) is None  # before non_diffusive_after_ps
    assert judge(1e-8, 40.0).reason == NON_DIFFUSIVE


def test_slow_diffuser_goes_on():
    # MSD ~4 A^2 at 20 ps, on course to pass 20 A^2 by 100 ps: neither stop applies.
    assert judge(3e-6, 20.0) is None


def test_rule_is_due_every_few_ps_from_the_minimum_duration():
    assert not RULE.due(15.0) and RULE.due(20.0) and not RULE.due(22.5) and RULE.due(25.0)


def test_adaptive_protocol_and_bad_rules():
    assert rule_from_dict(load_protocol("adaptive").adaptive) == RULE
    assert load_protocol("paper").adaptive is None
    with pytest.raises(InputError, match="D_relative_halfwidth"):
        rule_from_dict({"D_relative_halfwidth": 1.5})
    with pytest.raises(InputError, match="bad field"):
        rule_from_dict({"patience_ps": 3})

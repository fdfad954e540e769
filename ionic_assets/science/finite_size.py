"""Finite-size check: does D change when the simulation cell is made wider?

The same material and temperature are simulated in a second, wider cell (e.g. >= 15 Å instead
of >= 10 Å) and the two D (cm^2/s) are compared. They agree when their difference is within its
95% interval, each D's standard error taken from its own 95% interval as (hi - lo) / (2 x 1.96):
|D_check - D| <= 1.96 sqrt(se^2 + se_check^2). A ratio far from 1 with disagreement means the
smaller cell constrains the Li motion (or the periodic images correlate it) and its D is not the
bulk one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class SizeComparison:
    """D_check / D and whether they agree within the interval of their difference."""

    ratio: float
    agree: bool


def compare_sizes(
    D_cm2_s: float,
    D_ci95_cm2_s: tuple[float, float],
    check_D_cm2_s: float,
    check_D_ci95_cm2_s: tuple[float, float],
) -> SizeComparison:
    """Compare D of the protocol's cell with D of the wider cell (both with 95% intervals)."""
    se = (D_ci95_cm2_s[1] - D_ci95_cm2_s[0]) / (2 * Z95)
    se_check = (check_D_ci95_cm2_s[1] - check_D_ci95_cm2_s[0]) / (2 * Z95)
    agree = abs(check_D_cm2_s - D_cm2_s) <= Z95 * math.hypot(se, se_check)
    ratio = check_D_cm2_s / D_cm2_s if D_cm2_s > 0 else math.nan
    return SizeComparison(ratio=ratio, agree=bool(agree))

"""What the figures share: colours per configured method, clipped intervals."""

import numpy as np
import pandas as pd

from ionic_assets.lib.methods import load_methods
from ionic_assets.science.figures import style


def test_every_configured_method_has_its_own_stable_colour():
    names = list(load_methods())
    colors = style.method_colors(names)
    assert set(colors) == set(names) and len(set(colors.values())) == len(names)
    # a method keeps its colour whichever other methods a table holds
    bench = {"method": ["chgnet", "unconfigured"]}
    got = style.colors_for(pd.DataFrame(bench), colors)
    assert got["chgnet"] == colors["chgnet"]
    assert got["unconfigured"] not in {colors["chgnet"]}


def test_clipped_errors_cut_at_the_frame_and_say_where():
    y = [1.0, 1.0, 1.0]
    lo = [0.5, 1e-9, np.nan]
    hi = [2.0, 1e9, 0.9]  # the last: bound on the wrong side of the point
    plus, minus, over, under = style.clipped_errors(y, lo, hi, (1e-3, 1e3))
    assert list(plus) == [1.0, 999.0, 0.0] and list(minus) == [0.5, 1.0 - 1e-3, 0.0]
    assert list(over) == [False, True, False] and list(under) == [False, True, False]


def test_unbounded_intervals_leave_the_frame():
    # an infinite upper bound, and on a log axis a lower bound <= 0, reach beyond any frame
    plus, minus, over, under = style.clipped_errors(
        [1.0, 1.0], [0.0, -np.inf], [np.inf, 2.0], (0.1, 10.0)
    )
    assert list(over) == [True, False] and list(under) == [True, True]
    assert list(plus) == [9.0, 1.0] and list(minus) == [0.9, 0.9]

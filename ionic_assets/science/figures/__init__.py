"""The paper's figures (Figs. 1-3) and per-material diagnostics, as plotly figures.

Plain functions, no Dagster, no files: the computed tables in (`benchmark_table` rows with their
`log10_error`, the `benchmark_mae` view, `diffusion_estimates` points, an `arrhenius_fits` row),
a `plotly.graph_objects.Figure` out. Writing them (HTML, PNG through a headless browser) and
showing them in Dagster metadata is report code: `ionic_assets.lib.reports`, `defs.reports`.
Units are fixed throughout: conductivity sigma in mS/cm (log axes), tracer diffusion coefficient
D in cm^2/s (log axis), temperature T in K, time lag in ps, mean squared displacement (MSD) in Å^2.

    parity.parity_figure                Fig. 1: predicted sigma(300 K) vs experimental, per method.
    method_parity.method_parity_figure  Fig. 2: sigma(300 K) of one method vs another.
    log_error.log_error_figure          Fig. 3: log10 sigma_pred - log10 sigma_exp per material.
    arrhenius.arrhenius_figure          D vs 1000/T with the Arrhenius fit and its diagnostics.
    msd.msd_figure                      Li MSD vs time lag per temperature, with the threshold.
    sensitivity.sensitivity_figure      sigma(300 K) vs simulated time and temperature subsets.
    style                               colours, marker sizes, ranges, clipped intervals,
                                        the title notes (SYNTHETIC_NOTE, SMOKE_NOTE).

Every figure function takes `title_note`: a line heading the title that says what the data are
when they are no benchmark result (synthetic, a smoke run).

Log axes are square where both are sigma, their ranges set by the points, not the intervals; an
interval leaving the frame is cut at its edge and marked with a triangle.
"""

from ionic_assets.science.figures.arrhenius import arrhenius_figure
from ionic_assets.science.figures.log_error import log_error_figure
from ionic_assets.science.figures.method_parity import method_parity_figure
from ionic_assets.science.figures.msd import msd_figure
from ionic_assets.science.figures.parity import parity_figure
from ionic_assets.science.figures.sensitivity import sensitivity_figure
from ionic_assets.science.figures.style import (
    SMOKE_NOTE,
    SYNTHETIC_NOTE,
    marker_size,
    method_colors,
)

__all__ = [
    "SMOKE_NOTE",
    "SYNTHETIC_NOTE",
    "arrhenius_figure",
    "log_error_figure",
    "marker_size",
    "method_colors",
    "method_parity_figure",
    "msd_figure",
    "parity_figure",
    "sensitivity_figure",
]

"""Every figure says what its data are: `title_note` heads the title (synthetic, smoke run), and
the figures that compare methods carry their names and MAEs."""

import duckdb
import pytest

from ionic_assets.defs.reports import title_note
from ionic_assets.lib.warehouse import ensure_tables
from ionic_assets.science import figures
from ionic_assets_tests.science.figures._data import (
    mae_table,
    make_bench,
    make_curves,
    make_points_and_fit,
)


def _all_figures(note):
    bench = make_bench()
    mae = mae_table(bench)
    points, fit = make_points_and_fit()
    return {
        "parity": figures.parity_figure(bench, mae, title_note=note),
        "method_parity": figures.method_parity_figure(
            bench, "MACE", "DFT", mae=mae, title_note=note
        ),
        "log_error": figures.log_error_figure(bench, mae=mae, title_note=note),
        "arrhenius": figures.arrhenius_figure(points, fit, "wyu", "MACE", title_note=note),
        "arrhenius_diag": figures.arrhenius_figure(
            points, {**fit, "Ea_nonphysical": True}, "wyu", "MACE", title_note=note
        ),
        "msd": figures.msd_figure(make_curves(), 20.0, "wyu", "MACE", title_note=note),
    }


@pytest.mark.parametrize("note", [figures.SYNTHETIC_NOTE, figures.SMOKE_NOTE])
def test_every_figure_title_carries_the_note(note):
    for name, fig in _all_figures(note).items():
        assert note in fig.layout.title.text, name
        assert "not a benchmark result" in fig.layout.title.text, name


def test_no_note_by_default():
    for name, fig in _all_figures(None).items():
        text = fig.layout.title.text
        assert figures.SYNTHETIC_NOTE not in text and figures.SMOKE_NOTE not in text, name


def test_method_figures_carry_names_and_maes():
    figs = _all_figures(None)
    mae = mae_table(make_bench()).set_index("method")
    for name in ("log_error", "method_parity"):
        text = figs[name].layout.title.text
        for method in ("MACE", "DFT"):
            r = mae.loc[method]
            assert f"{method}" in text, name
            n_all, n_phys = int(r.n_materials_all), int(r.n_materials_physical)
            assert f"MAE {r.mae_log10_sigma_all:.2f} (n = {n_all})" in text, name
            assert f"reliable {r.mae_log10_sigma_reliable:.2f}" in text, name
            phys = f"physical E<sub>a</sub> {r.mae_log10_sigma_physical:.2f} (n = {n_phys})"
            assert phys in text, name


def test_title_note_says_smoke_for_smoke_trajectories():
    conn = duckdb.connect()
    ensure_tables(conn)
    assert title_note(conn) is None  # no trajectories
    cols = "method, material_id, temperature_K, protocol"
    conn.execute(f"INSERT INTO md_trajectories ({cols}) VALUES ('M', 'a', 800, 'paper')")
    assert title_note(conn) is None
    conn.execute(f"INSERT INTO md_trajectories ({cols}) VALUES ('M', 'b', 800, 'smoke')")
    assert title_note(conn) == figures.SMOKE_NOTE
    assert title_note(conn, "material_id = ?", ["a"]) is None
    assert title_note(conn, "material_id = ?", ["b"]) == figures.SMOKE_NOTE

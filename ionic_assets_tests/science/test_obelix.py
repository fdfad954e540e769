import math

import numpy as np
import pandas as pd
import pytest

from ionic_assets.science import obelix
from ionic_assets.science.errors import InputError


@pytest.fixture(scope="module")
def table(request):
    import os
    from pathlib import Path

    return obelix.load_table(Path(os.environ["OBELIX_DATA_DIR"]))


def test_paper_subset_is_table_2_without_goi():
    assert len(obelix.PAPER_MATERIAL_IDS) == 21
    assert "goi" not in obelix.PAPER_MATERIAL_IDS
    assert len(set(obelix.PAPER_MATERIAL_IDS)) == 21


def test_conductivity_in_mS_cm_matches_raw_csv(table, obelix_dir):
    raw = pd.read_csv(obelix_dir / "all.csv", index_col="ID")["Ionic conductivity (S cm-1)"]
    for material in obelix.PAPER_MATERIAL_IDS:
        text = raw[material]
        expected_S_cm = 1e-15 if text.startswith("<") else float(text)
        assert table.loc[material, "sigma_exp_mS_cm"] == pytest.approx(expected_S_cm * 1e3)


def test_upper_bound_entry_reads_as_paper_value(table):
    # The paper plots 47i (Li4P2O7, reported "<1E-10" S/cm) at 1e-12 mS/cm.
    assert table.loc["47i", "sigma_exp_mS_cm"] == pytest.approx(1e-12)
    assert table.loc["mdp", "sigma_exp_mS_cm"] == pytest.approx(3.2)


def test_unknown_ids_named_in_one_error(table):
    with pytest.raises(InputError, match="unknown OBELiX ID.*zz1, zz2"):
        obelix.select_entries(table, ["gvd", "zz1", "zz2"])


def test_missing_cif_and_bad_folder(tmp_path):
    with pytest.raises(InputError, match="material abc: no CIF"):
        obelix.read_structure(tmp_path, "abc")
    (tmp_path / "junk").mkdir()
    with pytest.raises(InputError, match="no all.csv"):
        obelix.load_table(tmp_path / "junk")


def test_draw_subset_one_pick_per_nonempty_bin():
    # 30 synthetic entries spread over 1e-14..10 mS/cm; bins are recomputed by hand here.
    rng = np.random.default_rng(0)
    sigma = 10 ** rng.uniform(-14, 1, 30)
    ordered = pd.DataFrame({"sigma_exp_mS_cm": sigma}, index=[f"m{i:02d}" for i in range(30)])
    picks = obelix.draw_subset(ordered, seed=3)
    assert picks == obelix.draw_subset(ordered, seed=3)
    assert len(picks) == len(set(picks))

    top = math.log10(sigma.max())
    edges = list(np.linspace(-15, -7, 5)[:-1]) + list(np.linspace(-7, top, 21))
    logs = np.log10(sigma)
    occupied = {int(np.searchsorted(edges, x, side="right") - 1) for x in logs}
    occupied = {min(b, len(edges) - 2) for b in occupied}
    assert len(picks) == len(occupied)
    picked_bins = {
        min(
            int(np.searchsorted(edges, math.log10(ordered.loc[p, "sigma_exp_mS_cm"]), "right") - 1),
            len(edges) - 2,
        )
        for p in picks
    }
    assert picked_bins == occupied

"""Nernst-Einstein conductivity against a hand calculation for a real OBELiX cell (Li3N)."""

import warnings
from pathlib import Path

import pytest

from ionic_assets.science.conductivity import nernst_einstein_sigma_mS_cm
from ionic_assets.science.errors import InputError, NotEstimable

LI3N_CIF = Path("/work/shared/obelix/all_randomized_cifs/gvd.cif")


@pytest.fixture(scope="module")
def li3n_cell():
    if not LI3N_CIF.exists():
        pytest.skip(f"{LI3N_CIF} not available")
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen notes rounding of ideal fractional coordinates
        structure = Structure.from_file(LI3N_CIF)
    n_li = sum(site.specie.symbol == "Li" for site in structure)
    return n_li, structure.volume


def test_li3n_by_hand(li3n_cell):
    n_li, volume_A3 = li3n_cell
    assert n_li == 3
    assert volume_A3 == pytest.approx(44.65930887, rel=1e-8)  # 3.648^2 sin(120 deg) x 3.875
    # sigma = N e^2 D / (V kB T), D = 1e-6 cm^2/s = 1e-10 m^2/s, T = 300 K:
    #   N e^2 D = 3 x (1.602176634e-19 C)^2 x 1e-10 m^2/s  = 7.70091e-48 C^2 m^2/s
    #   V kB T  = 44.6593e-30 m^3 x 1.380649e-23 J/K x 300 K = 1.84976e-49 J m^3
    #   sigma   = 41.632 S/m = 0.41632 S/cm = 416.32 mS/cm
    by_hand_mS_cm = 3 * 1.602176634e-19**2 * 1e-10 / (44.65930887e-30 * 1.380649e-23 * 300) * 10
    assert by_hand_mS_cm == pytest.approx(416.32, rel=1e-4)
    sigma = nernst_einstein_sigma_mS_cm(1e-6, n_li, volume_A3, 300.0)
    assert sigma == pytest.approx(by_hand_mS_cm, rel=1e-9)


def test_scaling_with_charge_and_temperature():
    base = nernst_einstein_sigma_mS_cm(1e-6, 10, 1000.0, 600.0)
    assert nernst_einstein_sigma_mS_cm(1e-6, 10, 1000.0, 600.0, charge=2) == pytest.approx(4 * base)
    assert nernst_einstein_sigma_mS_cm(1e-6, 10, 1000.0, 300.0) == pytest.approx(2 * base)


@pytest.mark.parametrize("D", [0.0, -1e-7])
def test_non_positive_D_is_not_estimable(D):
    with pytest.raises(NotEstimable, match="not positive"):
        nernst_einstein_sigma_mS_cm(D, 3, 44.7, 300.0)


@pytest.mark.parametrize(
    "args", [(1e-6, 0, 44.7, 300.0), (1e-6, 3, -1.0, 300.0), (1e-6, 3, 44.7, 0.0),
             (float("nan"), 3, 44.7, 300.0)],
)  # fmt: skip
def test_bad_input(args):
    with pytest.raises(InputError):
        nernst_einstein_sigma_mS_cm(*args)

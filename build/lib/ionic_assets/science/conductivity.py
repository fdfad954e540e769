"""Ionic conductivity from a tracer diffusion coefficient (Nernst-Einstein relation).

sigma = N q^2 D / (V kB T), with N mobile ions of charge q = charge * e in volume V. This ignores
ion-ion correlations (Haven ratio 1), as the paper does. CODATA constants from scipy.constants.
"""

from __future__ import annotations

import math

from scipy.constants import Boltzmann, elementary_charge

from ionic_assets.science.errors import InputError, NotEstimable

M2_PER_CM2 = 1e-4
M3_PER_A3 = 1e-30
MS_CM_PER_S_M = 10.0  # 1 S/m = 0.01 S/cm = 10 mS/cm


def nernst_einstein_sigma_mS_cm(
    D_cm2_s: float, n_li: int, volume_A3: float, temperature_K: float, charge: int = 1
) -> float:
    """Conductivity in mS/cm of `n_li` ions (charge in units of e) diffusing with D (cm^2/s)
    in a cell of `volume_A3` (Angstrom^3) at `temperature_K` (K).

    Raises:
        InputError: non-positive ion count, volume, temperature or charge; non-finite D.
        NotEstimable: D <= 0 (no measurable diffusion, so no conductivity).
    """
    if not (n_li > 0 and volume_A3 > 0 and temperature_K > 0 and charge != 0):
        raise InputError(
            f"Nernst-Einstein: need positive ion count, volume, temperature and non-zero charge "
            f"(got n={n_li}, V={volume_A3} A^3, T={temperature_K} K, charge={charge})"
        )
    if not math.isfinite(D_cm2_s):
        raise InputError(f"Nernst-Einstein: D is not finite ({D_cm2_s})")
    if D_cm2_s <= 0:
        raise NotEstimable(f"Nernst-Einstein: D = {D_cm2_s:g} cm^2/s is not positive")
    q_C = charge * elementary_charge
    sigma_S_m = (
        n_li * q_C**2 * D_cm2_s * M2_PER_CM2 / (volume_A3 * M3_PER_A3 * Boltzmann * temperature_K)
    )
    return sigma_S_m * MS_CM_PER_S_M

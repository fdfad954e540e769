"""The OBELiX dataset: experimental Li-ion conductivities and CIFs of solid electrolytes.

Reads a release through the `obelix-data` package (which downloads it when the folder does not
exist). Conductivities are converted from the dataset's S/cm to mS/cm; the dataset's "<1E-10"
and "<1E-8" entries become 1e-15 S/cm, `obelix-data`'s default and the paper's reading.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from ionic_assets.science.errors import InputError

#: Table 2 of the paper, without `goi` (LiClC3H7NO), whose MACE MD failed there.
PAPER_MATERIAL_IDS = (
    "qa9", "t0h", "ur9", "uu4", "9zk", "bv2", "x2i", "5bz", "joc", "ipo", "wyu",
    "be9", "2uv", "rr5", "fft", "gvd", "mdp", "dth", "clt", "47i", "kfp",
)  # fmt: skip

UNSPECIFIED_LOW_S_CM = 1e-15
_S_TO_MS = 1e3


def load_table(data_dir: Path) -> pd.DataFrame:
    """All OBELiX entries, indexed by ID, with `sigma_exp_mS_cm` added (mS/cm)."""
    import obelix

    data_dir = Path(data_dir)
    if data_dir.exists() and not (data_dir / "all.csv").is_file():
        raise InputError(f"OBELiX data directory {data_dir}: no all.csv (not an OBELiX release)")
    try:
        dataset = obelix.OBELiX(
            data_path=str(data_dir), no_cifs=True, unspecified_low_value=UNSPECIFIED_LOW_S_CM
        )
    except OSError as exc:  # download failure or unreadable folder
        raise InputError(
            f"OBELiX data directory {data_dir}: cannot read or download it ({exc}); "
            "set OBELIX_DATA_DIR to a local copy"
        ) from exc
    table = dataset.dataframe.copy()
    table["sigma_exp_mS_cm"] = pd.to_numeric(table["Ionic conductivity (S cm-1)"]) * _S_TO_MS
    return table


def cif_path(data_dir: Path, material_id: str) -> Path:
    return Path(data_dir) / "all_randomized_cifs" / f"{material_id}.cif"


def read_structure(data_dir: Path, material_id: str) -> Structure:
    """The CIF structure of one entry (as deposited: it may be partially occupied)."""
    path = cif_path(data_dir, material_id)
    if not path.is_file():
        raise InputError(f"material {material_id}: no CIF in OBELiX ({path} is missing)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's CIF-parsing chatter, not errors
        try:
            return Structure.from_file(path)
        except Exception as exc:
            raise InputError(f"material {material_id}: unreadable CIF {path} ({exc})") from exc


def select_entries(table: pd.DataFrame, material_ids: list[str]) -> pd.DataFrame:
    """Rows of `material_ids`, in that order; unknown IDs get one clear error."""
    unknown = [m for m in material_ids if m not in table.index]
    if unknown:
        raise InputError(f"unknown OBELiX ID(s): {', '.join(unknown)}")
    return table.loc[list(material_ids)]


def draw_subset(
    entries: pd.DataFrame,
    seed: int,
    *,
    n_bins: int = 20,
    n_low_bins: int = 4,
    split_mS_cm: float = 1e-7,
    low_mS_cm: float = 1e-15,
) -> list[str]:
    """The paper's selection procedure (Appendix A.3), seeded.

    `entries` are the candidates (the paper: the fully occupied entries; any pool of entries
    with CIFs will do), with a `sigma_exp_mS_cm` column. The range from
    `split_mS_cm` to the highest conductivity is cut into `n_bins` log-spaced bins, and the range
    `low_mS_cm`..`split_mS_cm` into `n_low_bins`; one entry is drawn at random from each
    non-empty bin. Returns the drawn IDs, lowest conductivity first.
    """
    log_sigma = np.log10(entries["sigma_exp_mS_cm"].astype(float))
    top = log_sigma.max()
    high_edges = np.linspace(np.log10(split_mS_cm), top, n_bins + 1)
    low_edges = np.linspace(np.log10(low_mS_cm), np.log10(split_mS_cm), n_low_bins + 1)
    edges = np.concatenate([low_edges[:-1], high_edges])
    rng = np.random.default_rng(seed)
    picks = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        last = hi == edges[-1]
        in_bin = log_sigma[(log_sigma >= lo) & ((log_sigma <= hi) if last else (log_sigma < hi))]
        if len(in_bin):
            picks.append(rng.choice(sorted(in_bin.index)))
    return picks

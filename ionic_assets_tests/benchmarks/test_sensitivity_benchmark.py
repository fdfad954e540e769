"""The sensitivity benchmark's melting section: `--melting-only` adds it to the recorded output
and keeps the known-D part (its records, summary and command) as it was."""

import json

import pytest

from ionic_assets.benchmarks import sensitivity as bench
from ionic_assets.science import melting


def test_melting_only_keeps_the_known_D_results(tmp_path, monkeypatch):
    known = {
        "command": "python -m ionic_assets.benchmarks.sensitivity --seeds 1 --frames 11",
        "true_log10_sigma300_mS_cm": 0.03, "true_Ea_eV": 0.3, "spreads": [],
        "summary": [{"kind": "duration", "variant": "25%", "n": 1, "n_fitted": 0,
                     "duration_ps": 0.25, "mean_abs_log10_error": None,
                     "mean_ci95_width_decades": None, "coverage_95": None,
                     "mean_abs_Ea_error_eV": None, "reasons": ["too short"]}],
        "records": [{"seed": 0, "kind": "duration", "variant": "25%", "reason": "too short"}],
    }  # fmt: skip
    (tmp_path / "sensitivity.json").write_text(json.dumps(known))
    real = {
        "case": "chgnet smoke qa9 (Li3BN2)", "n_atoms": 12, "n_framework": 6,
        "temperature_K": 1200.0, "simulated_ps": 0.6, "equilibration_ps": 0.1, "n_frames": 61,
        "seed": 1, "wall_time_s": 30.0, "model": {"family": "chgnet", "name": "0.3.0"},
        "framework_rms_displacement_A": 0.1, "framework_nearest_neighbour_A": 2.0,
        "lindemann_ratio": 0.05, "melted": False,
    }  # fmt: skip
    monkeypatch.setattr(bench, "real_melting", lambda workdir: real)

    bench.main(["--melting-only", "--out", str(tmp_path)])

    stored = json.loads((tmp_path / "sensitivity.json").read_text())
    assert {k: stored[k] for k in known} == known
    solid, liquid, run = stored["melting"]
    assert solid["lindemann_ratio"] == pytest.approx(0.058, rel=0.05) and not solid["melted"]
    assert liquid["lindemann_ratio"] > melting.LINDEMANN_MELTED and liquid["melted"]
    assert run == real
    assert stored["melting_command"].endswith("--melting-only --out " + str(tmp_path))
    text = (tmp_path / "sensitivity.md").read_text()
    assert "Command: `python -m ionic_assets.benchmarks.sensitivity --seeds 1 --frames 11`" in text
    assert "11 frames" in text  # the known-D part's own arguments
    assert "displacement about its sites 0.100 Å" in text
    assert "| chgnet smoke qa9 (Li3BN2) | 12 (6) | 1200 | 0.60 | 0.050 | no |" in text

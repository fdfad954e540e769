"""The batched-vs-sequential MD benchmark runs end to end and writes consistent figures.

The end-to-end test uses a tiny random MACE on 16 and 48 atoms, so it takes seconds."""

import json

import ase.io
import pytest
from ase.build import bulk

from ionic_assets.benchmarks import batched_md


@pytest.mark.slow
def test_main_writes_rows_whose_ratio_matches_the_rates(tmp_path):
    li = bulk("Li", "bcc", a=3.5, cubic=True).repeat(2)  # 16 atoms
    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True).repeat((2, 2, 1))  # 32 atoms
    for atoms, name in ((li, "li"), (lif, "lif")):
        atoms.info["material_id"] = name
    cells = tmp_path / "cells.extxyz"
    ase.io.write(cells, [li, lif], format="extxyz")
    argv = ["--models", "mace-small-random", "--sizes", "1", "2", "--steps", "2"]
    argv += ["--repeats", "1", "--device", "cpu", "--cells", str(cells)]
    argv += ["--out", str(tmp_path), "--note", "A test note."]

    assert batched_md.main(argv) == 0

    report = json.loads((tmp_path / "batched_md.json").read_text())
    assert report["cells"] == {"li": 16, "lif": 32} and not report["on_gpu"]
    rows = report["rows"]
    assert [(r["n_systems"], r["n_atoms"]) for r in rows] == [(1, 16), (2, 48)]
    assert rows[1]["systems"] == ["li 800 K", "lif 900 K"]
    for r in rows:
        assert r["failed"] == []
        assert r["sequential_atom_steps_per_s"] > 0 and r["batched_atom_steps_per_s"] > 0
        rates = r["batched_atom_steps_per_s"] / r["sequential_atom_steps_per_s"]
        assert r["ratio"] == pytest.approx(rates)
        assert r["ratio"] == pytest.approx(min(r["sequential_s"]) / min(r["batched_s"]))
        assert r["batched_ms_per_step"] == pytest.approx(1e3 * min(r["batched_s"]) / 2)
        assert r["batching_pays"] == (r["ratio"] > 1)
        assert r["engine_choice"]["engine"] in ("ase", "torch-sim")
        assert r["sequential_peak_host_MB"] > 0 and "sequential_peak_gpu_MB" not in r
        # 2 cells x 5 temperatures x 50,000 steps at the batched rate, in CPU-core-hours
        hours = 48 * 5 * 50_000 / r["batched_atom_steps_per_s"] / 3600 * report["torch_threads"]
        assert r["batched_projected_hours"] == pytest.approx(hours)
    md = (tmp_path / "batched_md.md").read_text()
    assert f"`{report['command']}`" in md and "--sizes 1 2" in report["command"]
    table = [line for line in md.splitlines() if line.startswith("| mace-small-random |")]
    assert len(table) == 2 and f"{rows[1]['ratio']:.2f}x" in table[1]
    assert "CPU-core-h" in md and md.rstrip().endswith("A test note.")


def test_105_systems_are_21_materials_at_5_temperatures(tmp_path):
    cells = [bulk("Li", "bcc", a=3.5).repeat(k + 1) for k in range(21)]
    for i, atoms in enumerate(cells):
        atoms.info["material_id"] = f"m{i}"
    systems = batched_md.batch_systems(cells, 105, tmp_path)
    pairs = {(s.label.split()[0], s.temperature_K) for s in systems}
    assert len(pairs) == 105 == len({s.trajectory_path for s in systems})
    assert {t for _, t in pairs} == set(batched_md.TEMPERATURES_K)
    assert [s.temperature_K for s in systems[:5]] == list(batched_md.TEMPERATURES_K)

"""MD protocols as data: the paper's values, lookup errors, validation."""

from __future__ import annotations

import importlib

import pytest
import yaml

from ionic_assets.science.errors import InputError
from ionic_assets.science.protocols import DEFAULT_PATH, load_protocol, load_protocols, with_cadence


def test_paper_protocol_matches_section_2_2():
    paper = load_protocol("paper")
    assert (paper.timestep_fs, paper.duration_ps, paper.equilibration_ps) == (2.0, 100.0, 5.0)
    assert paper.min_cell_width_A == 10.0
    assert paper.n_steps == 50_000
    assert paper.equilibration_steps == 2_500
    assert paper.frame_interval_ps == pytest.approx(0.05)
    assert paper.n_frames == 2_001
    assert paper.thermostat.class_path == "ase.md.nose_hoover_chain.NoseHooverChainNVT"
    assert paper.thermostat.params["tdamp_fs"] == 100 * paper.timestep_fs


def test_thermostat_classes_exist():
    for protocol in load_protocols().values():
        module, _, name = protocol.thermostat.class_path.rpartition(".")
        assert hasattr(importlib.import_module(module), name)


def test_smoke_protocol_is_short():
    smoke = load_protocol("smoke")
    assert smoke.n_steps == 300
    assert smoke.n_frames == 61
    assert smoke.min_cell_width_A == 0


def test_unknown_name_lists_known():
    with pytest.raises(InputError, match=r"unknown MD protocol 'fast' \(known: paper, smoke"):
        load_protocol("fast")


def write_variant(tmp_path, **changes):
    entries = yaml.safe_load(DEFAULT_PATH.read_text())
    entry = entries["smoke"]
    entry.update(changes)
    path = tmp_path / "protocols.yaml"
    path.write_text(yaml.safe_dump({"custom": entry}))
    return path


def test_custom_file(tmp_path):
    protocol = load_protocol("custom", write_variant(tmp_path, duration_ps=1.0))
    assert protocol.n_steps == 500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration_ps": 0.601}, "not a whole number of time steps"),
        ({"equilibration_ps": 1.0}, "equilibration_ps must be in"),
        ({"frame_interval_steps": 0}, "frame_interval_steps must be > 0"),
        ({"thermostat": {"class": "ase.md.langevin.Langevin"}}, "not supported"),
        ({"guards": {"min_interatomic_distance_A": 0.5}}, "bad or missing field"),
    ],
)
def test_invalid_protocols(tmp_path, changes, message):
    with pytest.raises(InputError, match=message):
        load_protocol("custom", write_variant(tmp_path, **changes))


def test_cadence_changes_only_the_checkpoint_and_progress_intervals():
    paper = load_protocol("paper")
    every_step = with_cadence(paper, {"checkpoint_interval_steps": 1, "progress_interval_steps": 1})
    assert (every_step.checkpoint_interval_steps, every_step.progress_interval_steps) == (1, 1)
    assert every_step.timestep_fs == paper.timestep_fs and every_step.n_steps == paper.n_steps
    assert every_step.frame_interval_steps == paper.frame_interval_steps
    with pytest.raises(InputError, match="cadence may set only .*, not timestep_fs"):
        with_cadence(paper, {"timestep_fs": 1.0, "progress_interval_steps": 1})

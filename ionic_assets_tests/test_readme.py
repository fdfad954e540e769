"""The README's two commands are the ones users and CI run."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_command(label: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {label} -->\s*```bash\n(.+?)\n```", text, re.S)
    assert match, f"README has no fenced command after <!-- {label} -->"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines == [_readme_command("test-command")]


@pytest.mark.slow
def test_main_command_installs_then_runs_the_cli():
    command = _readme_command("main-command")
    assert command.startswith("bash deploy/local/install.sh")
    assert ".venv/bin/ionic-assets run" in command


def test_the_fast_subset_deselects_a_registered_marker():
    command = _readme_command("fast-subset")
    assert command == '.venv/bin/python -m pytest -m "not slow"'
    markers = (ROOT / "pyproject.toml").read_text().split("markers = [", 1)[1].split("]", 1)[0]
    assert '"slow:' in markers

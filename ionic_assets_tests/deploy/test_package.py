"""The package boundary: the wheel holds `ionic_assets` alone, and nothing in it, nor any test,
reaches into a place it should not (the test package, the benchmark scripts)."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_wheel_holds_the_package_alone(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(
        PROJECT_ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "data", "build", "test-output", "*.egg-info"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("ionic_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"ionic_assets", f"{wheel.name.split('-py')[0]}.dist-info"}
    assert "ionic_assets/config/methods.yaml" in names
    assert "ionic_assets/config/protocols.yaml" in names


def test_package_never_imports_the_tests():
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "ionic_assets").rglob("*.py")
        if any(name.startswith("ionic_assets_tests") for name in _imports(path))
    ]
    assert offenders == []


def test_tests_take_synthetic_data_from_the_science_package():
    """Only the tests of the benchmark scripts import them."""
    tests = PROJECT_ROOT / "ionic_assets_tests"
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in tests.rglob("*.py")
        if path.parent != tests / "benchmarks"
        and any(name.startswith("ionic_assets.benchmarks") for name in _imports(path))
    ]
    assert offenders == []

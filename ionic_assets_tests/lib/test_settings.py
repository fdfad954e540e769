"""Settings in one place and a package boundary that holds, checked on the source itself."""

import ast
from pathlib import Path

import pytest

from ionic_assets.lib import settings
from ionic_assets.lib.settings import VARIABLES
from ionic_assets.science.errors import InputError

PACKAGE = Path(__file__).resolve().parents[2] / "ionic_assets"
TESTS = PACKAGE.parent / "ionic_assets_tests"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def test_the_configuration_reference_is_generated_from_the_declarations():
    declared = [v.name for v in VARIABLES]
    assert len(set(declared)) == len(VARIABLES)
    assert settings.REFERENCE_FILE.read_text() == settings.reference()
    table = settings.reference_table()
    assert all(f"| `{name}` |" in table for name in declared)


def _env_reads(tree: ast.AST) -> list[int]:
    """Lines that read the environment: os.getenv, os.environ.get, os.environ[...], `in`."""

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "getenv" or (
                node.func.attr == "get" and is_environ(node.func.value)
            ):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            if isinstance(node.ctx, ast.Load):
                lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment():
    planted = "import os\nos.environ.get('A')\nos.getenv('B')\nos.environ['C']\n'D' in os.environ"
    assert sorted(_env_reads(ast.parse(planted))) == [2, 3, 4, 5]
    reads = {
        str(path.relative_to(PACKAGE)): lines
        for path, tree in _modules()
        if path.name != "settings.py" and (lines := _env_reads(tree))
    }
    assert reads == {}


def test_a_variable_is_read_when_used_not_at_import(monkeypatch):
    from ionic_assets.defs.resources import SimulationResource

    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "smoke")
    assert SimulationResource().load_protocol().name == "smoke"
    monkeypatch.setenv("IONIC_ASSETS_PROTOCOL", "paper")
    assert SimulationResource().load_protocol().name == "paper"
    assert settings.K8S_ENGINE_IMAGE.read(engine="mace") is None
    monkeypatch.setenv("IONIC_ASSETS_K8S_IMAGE_MACE", "ionic/mace:1")
    assert settings.K8S_ENGINE_IMAGE.read(engine="mace") == "ionic/mace:1"


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


#: What each part of the package may not import: the layers run science < lib < defs < cli, and
#: Dagster stays out of the two lower ones; no part imports the tests.
UPSTREAM = ("ionic_assets.defs", "ionic_assets.definitions")
FORBIDDEN = {
    "science": ("dagster", "dagster_k8s", "ionic_assets.lib", *UPSTREAM, "ionic_assets.cli"),
    "lib": ("dagster", "dagster_k8s", *UPSTREAM, "ionic_assets.cli"),
    "defs": ("ionic_assets.cli",),
}


@pytest.mark.parametrize("folder", [*FORBIDDEN, None])
def test_no_import_runs_upward(folder):
    forbidden = (*FORBIDDEN.get(folder, ()), "ionic_assets_tests")

    def upward(name: str) -> bool:
        return any(name == f or name.startswith(f"{f}.") for f in forbidden)

    found = {
        str(path.relative_to(PACKAGE)): sorted(filter(upward, _imports(tree)))
        for path, tree in _modules()
        if folder is None or path.relative_to(PACKAGE).parts[0] == folder
    }
    assert {module: names for module, names in found.items() if names} == {}
    assert upward(f"{forbidden[0]}.x") and not upward(f"{forbidden[0]}x")


def test_tests_take_synthetic_data_from_the_science_package():
    """Only the tests of the benchmark scripts import them."""
    offenders = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path.parent != TESTS / "benchmarks"
        and any(
            name.startswith("ionic_assets.benchmarks")
            for name in _imports(ast.parse(path.read_text()))
        )
    ]
    assert offenders == []


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_partitions_per_run_must_be_a_whole_number_of_one_or_more(monkeypatch, value):
    monkeypatch.setenv(settings.MD_PARTITIONS_PER_RUN.name, value)
    with pytest.raises(InputError, match=f"IONIC_ASSETS_MD_PARTITIONS_PER_RUN: .*{value!r}"):
        settings.MD_PARTITIONS_PER_RUN.value()
    monkeypatch.setenv(settings.MD_PARTITIONS_PER_RUN.name, "21")
    assert settings.MD_PARTITIONS_PER_RUN.value() == 21


def test_a_value_is_typed_and_a_bad_one_names_its_variable(monkeypatch):
    tolerations = settings.POOL_SETTINGS[("gpu", "tolerations")]
    monkeypatch.delenv(tolerations.name, raising=False)
    assert tolerations.value() == settings.POOL_DEFAULTS[("gpu", "tolerations")]
    monkeypatch.setenv(tolerations.name, "[]")
    assert tolerations.value() == []
    monkeypatch.setenv(tolerations.name, "{not json")
    with pytest.raises(InputError, match="IONIC_ASSETS_GPU_TOLERATIONS: not JSON"):
        tolerations.value()
    monkeypatch.setenv(settings.FIGURE_PNG.name, "Off")
    assert settings.FIGURE_PNG.value() is False
    monkeypatch.setenv(settings.PNG_TIMEOUT.name, "30")
    assert settings.PNG_TIMEOUT.value() == 30.0

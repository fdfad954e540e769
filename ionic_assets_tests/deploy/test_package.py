"""The package boundary: the wheel holds `ionic_assets` alone (what its modules may import:
`lib/test_settings.py`)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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

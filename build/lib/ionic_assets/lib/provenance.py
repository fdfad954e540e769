"""Package versions recorded with every result."""

from importlib import metadata

_PACKAGES = (
    "ionic-assets", "ase", "pymatgen", "kinisi", "torch", "numpy", "scipy",
    "mace-torch", "chgnet", "sevenn", "e3nn", "dagster",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result (absent ones are skipped)."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions

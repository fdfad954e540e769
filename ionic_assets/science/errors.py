"""Errors raised for bad input anywhere in the science layer.

Each carries a one-line message that names the item (material, file, method, ...) and the cause,
so the CLI and the Dagster logs can show it as it is, without a traceback.
"""


class InputError(ValueError):
    """Bad input: an unknown name, a missing or unreadable file, a structure the step refuses."""


class NotEstimable(ValueError):
    """The data are valid but do not determine the quantity (too short, no Li motion, one T)."""


class NotConverged(RuntimeError):
    """A calculation did not converge even after its retry policy (e.g. a DFT SCF at a step)."""


class StorageError(OSError):
    """A file could not be read or stored: a trajectory, checkpoint or artifact that is missing,
    or a disk full, quota or permission error. An OSError, so the platform reports it in one
    line like any other unreadable or unwritable file."""

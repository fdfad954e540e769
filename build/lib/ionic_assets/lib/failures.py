"""Turning science errors into Dagster failures that read as one line."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ionic_assets.science.errors import InputError, NotConverged, NotEstimable


@contextmanager
def clear_failure() -> Iterator[None]:
    """Re-raise bad input, a calculation that did not converge, or a file that cannot be read or
    written (disk full, permissions), as a `dg.Failure` whose description is the one-line cause."""
    try:
        yield
    except (InputError, NotEstimable, NotConverged, OSError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None

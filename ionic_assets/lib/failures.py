"""Turning science errors into Dagster failures that read as one line."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ionic_assets.science.errors import InputError, NotEstimable


@contextmanager
def clear_failure(passing: type[Exception] | tuple = ()) -> Iterator[None]:
    """Re-raise bad input, or a file that cannot be read or written (disk full, permissions),
    as a `dg.Failure` whose description is the one-line cause. `passing` errors go through
    unchanged, for the caller to record (a "not estimable" result is a result)."""
    try:
        yield
    except passing:
        raise
    except (InputError, NotEstimable, OSError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None

"""A user's mistake in an asset: one line at the top of the Dagster failure, no traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ionic_assets.lib.failures import USER_ERRORS, one_line


@contextmanager
def clear_failure() -> Iterator[None]:
    """Re-raise a user error (`lib.failures.USER_ERRORS`) as a `dg.Failure` whose description is
    its one line (the top of the failure in the Dagster UI, and what `ionic-assets run` prints),
    the rest of the message and the exception type as metadata below it."""
    try:
        yield
    except USER_ERRORS as exc:
        details = {"error_type": type(exc).__name__, "message": str(exc)}
        raise dg.Failure(description=one_line(exc), metadata=details, allow_retries=False) from None

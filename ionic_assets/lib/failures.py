"""The one boundary between a user's mistake and a bug.

`USER_ERRORS` are the exceptions that mean bad input or an environment the user can fix (an
unknown name, a missing or unreadable file, a value out of range, a missing engine, a calculation
that did not converge, a disk that is full): they are shown as one line `error: <item>: <cause>`,
never with a traceback. Anything else is a bug and keeps its traceback. The CLI
(`ionic_assets.cli.commands.main`) and every asset (`defs/failures.py`) decide by this tuple alone.
"""

from ionic_assets.science.errors import InputError, NotConverged, NotEstimable

USER_ERRORS = (InputError, NotEstimable, NotConverged, OSError)


def one_line(exc: BaseException) -> str:
    """The first line of an error's message: `<item>: <cause>`."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

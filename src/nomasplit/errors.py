"""User-facing errors.

Every error that a user can cause with bad input (a file, a flag, a plan) is raised as :class:`InputError`
with a message that names the field and what is allowed. The CLI turns it into exit code 2 and one line on
stderr, never a traceback.
"""

from __future__ import annotations


class NomasplitError(Exception):
    """Base class of the library's own errors."""


class InputError(NomasplitError, ValueError):
    """Bad input: malformed file, unknown key, value out of range, plan that does not fit its scenario."""


class SolverError(NomasplitError, RuntimeError):
    """A solver cannot handle the instance (for example: too large for ``exact``)."""

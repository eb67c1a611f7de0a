"""One error family for every backend, so callers and the CLI handle one type.

Backends translate native failures (botocore ``ClientError``, ``sqlite3``
errors) into these with ``raise ... from exc``; the same situation reads the
same from every backend.
"""

from __future__ import annotations


class SconesError(Exception):
    """Base error; ``code`` is a stable machine-readable name."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(SconesError):
    code = "not_found"


class AlreadyExists(SconesError):
    code = "already_exists"


class InvalidInput(SconesError):
    code = "invalid_input"


class Unsupported(SconesError):
    code = "unsupported"


class StepFailed(SconesError):
    code = "step_failed"


class Conflict(SconesError):
    """The request collides with work already under way (a run of the same pipeline, say)."""

    code = "conflict"


class PermissionDenied(SconesError):
    """The credentials may not do this (an IAM policy, an expired token)."""

    code = "permission_denied"


class Unavailable(SconesError):
    """The service is busy or down for now; the same request may succeed later."""

    code = "unavailable"

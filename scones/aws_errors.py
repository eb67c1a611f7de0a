"""One translator from AWS error codes to the project's errors, for the registry, the deployer and the store.

Backends used to guess from message text, each its own way; the same missing model
package then read as NotFound in one place and as a generic failure in another.
Here the error *code* decides. SageMaker is the one wrinkle: it reports a missing
resource as ``ValidationException`` ("... does not exist", "Could not find ...",
"... not found"), so for that code alone the message refines the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from scones.errors import InvalidInput, NotFound, PermissionDenied, SconesError, Unavailable

T = TypeVar("T")

NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "404",
                             "NotFound", "NotFoundException", "NoSuchEntity"})
INVALID_CODES = frozenset({"ValidationException", "ValidationError", "InvalidParameterValue",
                           "InvalidParameterException", "InvalidRequest", "InvalidArgument"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403",
                          "AuthorizationError", "ExpiredToken", "InvalidClientTokenId"})
TRANSIENT_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown",
                             "ServiceUnavailable", "InternalFailure", "InternalServerError", "503", "500"})
#: How SageMaker words a missing resource inside a ValidationException.
MISSING_PHRASES = ("does not exist", "could not find", "not found")


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> SconesError:
    """The project's error for a botocore ``ClientError`` raised while doing ``what``."""
    error = getattr(exc, "response", {}).get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "") or exc)
    text = f"{what}: {message}" if message else what
    if code in NOT_FOUND_CODES:
        return NotFound(text)
    if code in INVALID_CODES:
        return NotFound(text) if any(p in message.lower() for p in MISSING_PHRASES) else InvalidInput(text)
    if code in DENIED_CODES:
        return PermissionDenied(f"{text} (check the role's permissions)")
    if code in TRANSIENT_CODES:
        return Unavailable(f"{text} (AWS is busy or throttling; try again)")
    return SconesError(f"{what} failed: {code} {message}".rstrip())


def call(what: str, method: Callable[..., T], **kwargs: Any) -> T:
    """``method(**kwargs)``, with a ClientError turned into the project's error."""
    from botocore.exceptions import ClientError

    try:
        return method(**kwargs)
    except ClientError as exc:
        raise translate(exc, what) from exc

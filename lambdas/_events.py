"""Event parsing and errors shared by the three workflow Lambdas.

Events arrive in the shapes users' state machines produce: our own
(``{"statusCode": 200, "body": {...}}`` with ``body`` a dict and ``inferences``
a list of floats), the Udacity starter's (``body`` a JSON *string*,
``inferences`` a string like ``"[0.91, 0.09]"``), the body alone (``InputPath:
$.Payload.body``), or a whole Lambda invoke result (``{"Payload": {...}}``).
They all normalise to one ``body`` dict; anything else raises
:class:`InvalidEventError` naming what is wrong.

Error class names are the Step Functions error names (Lambda reports
``errorType`` = the class name), so a state machine can Retry or Catch them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_KEY_BYTES = 1024
#: S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
#: How far from 1 the probabilities may sum (replies are rounded; the starter's are two-decimal strings).
SUM_TOLERANCE = 0.01


class WorkflowError(Exception):
    """Base of the errors a state machine can catch by name."""


class InvalidEventError(WorkflowError):
    """The event is not shaped as the handler expects."""


class ImageNotFoundError(WorkflowError):
    """No object at the bucket/key."""


class EmptyImageError(WorkflowError):
    """The object has zero bytes."""


class ImageTooLargeError(WorkflowError):
    """The image would not fit in a Step Functions state (256 KB) once base64-encoded."""


class InvalidImageError(WorkflowError):
    """The endpoint refused the bytes as an image (non-image, truncated, bomb...)."""


class EndpointUnavailableError(WorkflowError):
    """The endpoint did not answer (down, throttled, 5xx): transient, worth retrying."""


class EndpointMisconfiguredError(WorkflowError):
    """SageMaker does not know the endpoint the function names (ValidationError): its settings, not the image."""


class InvalidModelOutputError(WorkflowError):
    """The endpoint answered something that is not one probability per class (empty, not JSON, NaN, sum != 1)."""


class LowConfidenceError(WorkflowError):
    """The top class probability is below the threshold: send the image to human review."""


def _loads(value: str, what: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(f"{what} is a string but not JSON: {value[:80]!r}") from exc


def parse_share(name: str, raw: Any) -> float:
    """A setting that is a number in [0, 1] (a threshold, a sampling share), or InvalidEventError naming it."""
    from common.shares import share_value

    try:
        return share_value(raw, name)
    except ValueError as exc:
        raise InvalidEventError(str(exc)) from None


def extract_body(event: Any) -> dict:
    """The ``body`` dict of any supported event shape."""
    if isinstance(event, str):
        event = _loads(event, "event")
    if not isinstance(event, dict):
        raise InvalidEventError(f"event must be a JSON object, got {type(event).__name__}")
    if "Payload" in event and isinstance(event["Payload"], (dict, str)) and "body" not in event:
        return extract_body(event["Payload"])
    body = event.get("body", event)
    if isinstance(body, str):
        body = _loads(body, "body")
    if not isinstance(body, dict):
        raise InvalidEventError(f"body must be a JSON object, got {type(body).__name__}")
    return body


def require_location(body: dict) -> tuple[str, str]:
    """``s3_bucket`` and ``s3_key``, validated: present, strings, sane lengths, no path tricks."""
    bucket, key = body.get("s3_bucket"), body.get("s3_key")
    missing = [name for name, value in (("s3_bucket", bucket), ("s3_key", key)) if value in (None, "")]
    if missing:
        raise InvalidEventError(f"event lacks {' and '.join(missing)}: expected "
                                '{"s3_bucket": "...", "s3_key": "..."}')
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise InvalidEventError("s3_bucket and s3_key must be strings")
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise InvalidEventError(f"not a valid S3 bucket name: {bucket[:80]!r} (3-63 lower-case letters, digits, "
                                "dots and hyphens)")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidEventError(f"s3_key is not valid UTF-8 text: {key[:80]!r}") from exc
    if len(encoded) > MAX_KEY_BYTES or "\x00" in key:
        raise InvalidEventError("s3_key is longer than S3 allows or contains NUL")
    if key.startswith("/") or ".." in key.replace("\\", "/").split("/"):
        raise InvalidEventError(f"s3_key must be a relative key without '..': {key[:80]!r}")
    return bucket, key


def probability_problem(value: Any, classes: int | None = None) -> str | None:
    """Why ``value`` is not one probability per class, or None when it is.

    Probabilities are finite numbers (not booleans) in [0, 1] that sum to 1 within
    :data:`SUM_TOLERANCE`; with ``classes``, there is exactly one per class.
    """
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of probabilities"
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        return f"expected numbers, got {str(value)[:80]}"
    if any(not math.isfinite(v) or not 0.0 <= v <= 1.0 for v in value):
        return f"probabilities must be finite and within [0, 1]: {value[:10]}"
    total = math.fsum(value)
    if abs(total - 1.0) > SUM_TOLERANCE:
        return f"probabilities must sum to 1, these sum to {total:.4f}: {value[:10]}"
    if classes is not None and len(value) != classes:
        return f"expected one probability per class ({classes}), got {len(value)}"
    return None


def parse_inferences(value: Any, classes: int | None = None) -> list[float]:
    """A list of probabilities, from a list or the starter's string form ``"[0.91, 0.09]"``."""
    if value is None or value == "" or value == []:
        raise InvalidEventError("inferences must be a non-empty list of numbers (run the classifier first)")
    if isinstance(value, str):
        value = _loads(value, "inferences")
    problem = probability_problem(value, classes)
    if problem:
        raise InvalidEventError(f"inferences: {problem}")
    return [float(v) for v in value]


def response(body: dict) -> dict:
    return {"statusCode": 200, "body": body}

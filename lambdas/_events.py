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
from typing import Any

MAX_KEY_BYTES = 1024


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


class LowConfidenceError(WorkflowError):
    """The top class probability is below the threshold: send the image to human review."""


def _loads(value: str, what: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(f"{what} is a string but not JSON: {value[:80]!r}") from exc


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
    if not 3 <= len(bucket) <= 63 or any(c in bucket for c in "/\\ \x00"):
        raise InvalidEventError(f"not a valid bucket name: {bucket[:80]!r}")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES or "\x00" in key:
        raise InvalidEventError("s3_key is longer than S3 allows or contains NUL")
    if key.startswith("/") or ".." in key.replace("\\", "/").split("/"):
        raise InvalidEventError(f"s3_key must be a relative key without '..': {key[:80]!r}")
    return bucket, key


def parse_inferences(value: Any) -> list[float]:
    """A list of probabilities, from a list or the starter's string form ``"[0.91, 0.09]"``."""
    if isinstance(value, str):
        value = _loads(value, "inferences")
    if not isinstance(value, list) or not value:
        raise InvalidEventError("inferences must be a non-empty list of numbers (run the classifier first)")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(f"inferences must be numbers: {str(value)[:80]}") from exc
    if any(math.isnan(n) or not 0.0 <= n <= 1.0 for n in numbers):
        raise InvalidEventError(f"inferences must be probabilities in [0, 1]: {numbers[:10]}")
    return numbers


def response(body: dict) -> dict:
    return {"statusCode": 200, "body": body}

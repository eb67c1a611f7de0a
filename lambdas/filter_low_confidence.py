"""Lambda 3/3: pass the event on when the top probability meets ``THRESHOLD`` (default 0.93).

Below it, raise :class:`LowConfidenceError`, which the state machine catches to
send the image to human review.
"""

from __future__ import annotations

import os

from lambdas._events import InvalidEventError, LowConfidenceError, extract_body, parse_inferences, response

DEFAULT_THRESHOLD = 0.93


def threshold_from_env() -> float:
    raw = os.environ.get("THRESHOLD", str(DEFAULT_THRESHOLD))
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidEventError(f"THRESHOLD must be a number, got {raw!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise InvalidEventError(f"THRESHOLD must be within [0, 1], got {value}")
    return value


def handler(event, context=None):
    body = extract_body(event)
    inferences = parse_inferences(body.get("inferences"))
    threshold = threshold_from_env()
    confidence = max(inferences)
    if confidence < threshold:
        where = body.get("s3_key", "image")
        raise LowConfidenceError(f"{where}: top confidence {confidence:.4f} ({body.get('label', '?')}) is below "
                                 f"the threshold {threshold}")
    return response({**body, "inferences": inferences, "confidence": confidence})

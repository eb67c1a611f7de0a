"""Lambda 3/3: pass the event on when the top probability meets ``THRESHOLD`` (default: ``common.defaults``).

Below it, raise :class:`LowConfidenceError`, which the state machine catches to
send the image to human review.
"""

from __future__ import annotations

from common.defaults import CONFIDENCE_THRESHOLD
from lambdas._events import LowConfidenceError, extract_body, parse_inferences, parse_share, response
from lambdas._runtime import Clients, Env, entry_point

DEFAULT_THRESHOLD = CONFIDENCE_THRESHOLD


def parse_threshold(raw: str | float) -> float:
    return parse_share("THRESHOLD", raw)


def make_handler(env: Env, clients: Clients | None = None):
    """A handler with the function's ``THRESHOLD`` setting (the template sets it), validated once, here."""
    threshold = parse_threshold(env.get("THRESHOLD", str(DEFAULT_THRESHOLD)))

    def configured(event, context=None):
        return _filter(event, threshold)

    return configured


handler = entry_point(make_handler)


def _filter(event, threshold: float):
    body = extract_body(event)
    inferences = parse_inferences(body.get("inferences"))
    confidence = max(inferences)
    if confidence < threshold:
        where = body.get("s3_key", "image")
        raise LowConfidenceError(f"{where}: top confidence {confidence:.4f} ({body.get('label', '?')}) is below "
                                 f"the threshold {threshold}")
    return response({**body, "inferences": inferences, "confidence": confidence})

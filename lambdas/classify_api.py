"""Lambda behind the HTTP API's ``POST /classify``: one image in, a label (or "review") out, for web clients.

API Gateway (HTTP API, payload format 2.0) hands over the request body, base64-encoded
when it is binary. The image goes straight to the endpoint (a browser waits for the
answer; the Step Functions workflow is for batches and the review queue) and is judged
by the same threshold. Status codes say what happened:

- 200 ``{"status": "passed", "label", "confidence", "inferences"}``, or ``{"status": "review", ...}``
  when the model is not sure enough (the caller shows "a person will look at it");
- 400 no body, bad base64 or JSON; 413 larger than the endpoint takes; 415 not an image type;
- 422 the endpoint refused the bytes (not an image, truncated, a bomb);
- 502 the model answered nonsense; 503 the endpoint is down or throttled (retry later).

Settings (the template's): ``ENDPOINT_NAME``, ``CLASSES``, ``THRESHOLD``; the runtime client from ``clients``.
"""

from __future__ import annotations

import base64
import binascii
import json

from common.content_types import media_type
from common.defaults import CONFIDENCE_THRESHOLD, ENDPOINT_NAME, IMAGE_CONTENT_TYPES
from lambdas._events import (
    EndpointMisconfiguredError,
    EndpointUnavailableError,
    InvalidImageError,
    InvalidModelOutputError,
)
from lambdas._runtime import Clients, Env, entry_point
from lambdas.classifier import classes_from, classify
from lambdas.filter_low_confidence import parse_threshold

#: What one request may carry (API Gateway's own payload limit is 10 MB; the endpoint takes 6 MB).
MAX_BODY_BYTES = 6 * 1024 * 1024
JSON_HEADERS = {"content-type": "application/json"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _reply(status: int, document: dict) -> dict:
    return {"statusCode": status, "headers": JSON_HEADERS, "body": json.dumps(document)}


def _image(event: dict) -> bytes:
    """The image bytes from a raw image body, or from JSON ``{"image": "<base64>"}``."""
    if not isinstance(event, dict) or not event.get("body"):
        raise ApiError(400, "missing_body", "POST an image (Content-Type image/png or image/jpeg), or JSON "
                       '{"image": "<base64>"}')
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = media_type(headers.get("content-type"))
    body = event["body"]
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "bad_encoding", f"the body is marked base64 but is not ({exc})") from exc
    if content_type == "application/json":
        try:
            document = json.loads(raw)
            raw = base64.b64decode(document["image"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ApiError(400, "bad_json", 'expected JSON {"image": "<base64 of the image>"}') from exc
    elif content_type not in IMAGE_CONTENT_TYPES and content_type not in ("", "application/octet-stream"):
        raise ApiError(415, "unsupported_media_type", f"Content-Type {content_type!r}: send "
                       f"{', '.join(IMAGE_CONTENT_TYPES)} or application/json")
    if not raw:
        raise ApiError(400, "empty_image", "the image is empty")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"{len(raw):,} bytes; at most {MAX_BODY_BYTES:,}")
    return raw


def make_handler(env: Env, clients: Clients):
    """A handler bound to the function's endpoint, classes and threshold, calling through ``clients``."""
    endpoint, classes = env.get("ENDPOINT_NAME", ENDPOINT_NAME), classes_from(env)
    threshold = parse_threshold(env.get("THRESHOLD", str(CONFIDENCE_THRESHOLD)))

    def configured(event, context=None):
        try:
            inferences = classify(_image(event), endpoint, clients("sagemaker-runtime"), classes=len(classes))
        except ApiError as exc:
            return _reply(exc.status, {"error": exc.code, "message": exc.message})
        except InvalidImageError as exc:
            return _reply(422, {"error": "invalid_image", "message": str(exc)})
        except InvalidModelOutputError as exc:
            return _reply(502, {"error": "invalid_model_output", "message": str(exc)})
        except EndpointUnavailableError as exc:
            return _reply(503, {"error": "endpoint_unavailable", "message": str(exc)})
        except EndpointMisconfiguredError as exc:
            return _reply(500, {"error": "endpoint_misconfigured", "message": str(exc)})
        top = max(range(len(inferences)), key=inferences.__getitem__)
        status = "passed" if inferences[top] >= threshold else "review"
        return _reply(200, {"status": status, "label": classes[top] if status == "passed" else None,
                            "confidence": inferences[top], "inferences": inferences, "threshold": threshold})

    return configured


handler = entry_point(make_handler)

"""The HTTP API's handler against a real local endpoint (SageMaker's serving contract): codes for each case."""

import base64
import json

import pytest

from lambdas import classify_api
from lambdas._runtime import Clients
from scones.serving.client import runtime_client
from tests import support


@pytest.fixture
def api(endpoint):
    _, _, client = endpoint
    return lambda threshold=0.0: classify_api.make_handler(
        {"ENDPOINT_NAME": "scones-endpoint", "CLASSES": "bicycle,motorcycle", "THRESHOLD": str(threshold)},
        Clients({"sagemaker-runtime": client}))


def _event(body: bytes, content_type="image/png"):
    return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True, "headers": {"Content-Type": content_type}}


def _call(handler, event):
    reply = handler(event)
    assert reply["headers"]["content-type"] == "application/json"
    return reply["statusCode"], json.loads(reply["body"])


def test_an_image_gets_a_label(api):
    status, body = _call(api(), _event(support.random_png(seed=1)))
    assert status == 200 and body["status"] == "passed" and body["label"] in ("bicycle", "motorcycle")
    assert body["confidence"] == max(body["inferences"]) and len(body["inferences"]) == 2


def test_json_with_base64_works_too_and_an_unsure_model_says_review(api):
    document = json.dumps({"image": base64.b64encode(support.random_png(seed=2)).decode()})
    status, body = _call(api(threshold=1.0), {"body": document, "headers": {"content-type": "application/json"}})
    assert status == 200 and body["status"] == "review" and body["label"] is None


@pytest.mark.parametrize(("event", "status", "error"), [
    ({}, 400, "missing_body"),
    ({"body": "%%%", "isBase64Encoded": True, "headers": {}}, 400, "bad_encoding"),
    ({"body": "{\"picture\": 1}", "headers": {"content-type": "application/json"}}, 400, "bad_json"),
    (_event(b"GIF89a...", "text/plain"), 415, "unsupported_media_type"),
    (_event(b"this is text, not a picture"), 422, "invalid_image"),
    (_event(support.truncated_png()), 422, "invalid_image"),
])
def test_bad_requests_get_their_status_code(api, event, status, error):
    assert _call(api(), event)[0:1] == (status,)
    assert _call(api(), event)[1]["error"] == error


def test_too_large_is_413_and_a_dead_endpoint_is_503(api, monkeypatch):
    dead = classify_api.make_handler({"ENDPOINT_NAME": "scones-endpoint", "CLASSES": "a,b", "THRESHOLD": "0.5"},
                                     Clients({"sagemaker-runtime": runtime_client("http://127.0.0.1:9")}))
    status, body = _call(dead, _event(support.random_png()))
    assert (status, body["error"]) == (503, "endpoint_unavailable")
    monkeypatch.setattr(classify_api, "MAX_BODY_BYTES", 100)
    assert _call(api(), _event(support.random_png(size=64)))[0] == 413

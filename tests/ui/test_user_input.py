"""The dashboard never answers 500 to user input: each query and form value is checked and a bad one gets a
4xx page that says what was wrong (issue 29's probes, through Flask's test client)."""

import io
import json
import re

import pytest

from scones.ui.app import create_app
from scones.ui.guard import Guard

ORIGIN = "http://127.0.0.1:8090"


@pytest.fixture
def client(workspace):
    return create_app(workspace, guard=Guard.for_binding()).test_client()


@pytest.mark.parametrize("result, says", [
    ("notjson", "result is not JSON"),
    (json.dumps({"status": "passed", "confidence": "x"}), "confidence must be a number between 0 and 1"),
    (json.dumps({"status": "passed", "confidence": float("nan")}), "confidence must be a number"),
    (json.dumps({"status": "passed", "confidence": 7}), "confidence must be a number"),
    (json.dumps([1, 2]), "not a classification result"),
    (json.dumps({"status": "passed", "label": {"a": 1}}), "result label must be text"),
])
def test_a_result_query_that_is_not_a_result_gets_a_400_saying_why(client, result, says):
    reply = client.get("/", base_url=ORIGIN, query_string={"result": result})
    assert reply.status_code == 400 and says in reply.get_data(as_text=True)


def test_a_real_result_shows(client):
    result = json.dumps({"image": "a.png", "status": "passed", "label": "bicycle", "confidence": 0.97})
    html = client.get("/", base_url=ORIGIN, query_string={"result": result}).get_data(as_text=True)
    assert re.search(r'id="result-label">bicycle</b>\s+\(0\.970\)', html)


@pytest.mark.parametrize("threshold", ["nan", "-5", "1.5", "inf", "x"])
def test_a_threshold_outside_zero_to_one_gets_a_400_saying_why(client, threshold):
    html = client.get("/", base_url=ORIGIN).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    reply = client.post("/classify", base_url=ORIGIN, data={"csrf_token": token, "threshold": threshold,
                                                             "image": (io.BytesIO(b"x"), "a.png")})
    assert reply.status_code == 400
    assert f"threshold must be a number between 0 and 1, got {threshold!r}" in reply.get_data(as_text=True).replace(
        "&#39;", "'")

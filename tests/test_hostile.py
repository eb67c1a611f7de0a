"""Hostile and random input, property-based: every handler and the endpoint answer with a clear,
typed error -- never another exception, never a hang (each example has a deadline)."""

import base64
import http.client
import json

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas import classifier, filter_low_confidence, serialize_image_data
from lambdas._events import WorkflowError
from lambdas._runtime import CLIENTS
from tests import support
from training import inference

SETTINGS = settings(max_examples=150, deadline=10_000, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16)
hostile_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "a/../../b", "\x00", "", " ",
                     "%2e%2e/%2e%2e/etc/passwd", "s3://other/key", "x" * 5000]),
    st.binary(max_size=64).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
location = st.fixed_dictionaries({"s3_bucket": st.one_of(hostile_text, scalars), "s3_key": st.one_of(hostile_text,
                                                                                                     scalars)})
events = st.one_of(
    json_values,
    location,
    st.fixed_dictionaries({"body": st.one_of(hostile_text, json_values, location.map(json.dumps))}),
    st.fixed_dictionaries({"statusCode": st.just(200), "body": st.fixed_dictionaries({
        "image_data": st.one_of(hostile_text, st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())),
        "inferences": st.one_of(json_values, hostile_text, st.lists(st.floats(), max_size=5).map(json.dumps))})}),
)


class NoObjects:
    """An S3 client with nothing in it (every key is missing)."""

    def get_object(self, **kwargs):
        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "missing"}}, "GetObject")


class RefusingEndpoint:
    def invoke_endpoint(self, **kwargs):
        raise ClientError({"Error": {"Code": "ModelError", "Message": "not an image"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "InvokeEndpoint")


@pytest.fixture(autouse=True)
def fake_clients(monkeypatch):
    monkeypatch.setitem(CLIENTS.made, "s3", NoObjects())
    monkeypatch.setitem(CLIENTS.made, "sagemaker-runtime", RefusingEndpoint())


def _outcome(handler, event):
    try:
        result = handler(event)
    except WorkflowError as error:
        assert str(error), "errors carry a message"
        return "error"
    assert result["statusCode"] == 200 and isinstance(result["body"], dict)
    return "ok"


@SETTINGS
@given(events)
def test_serialize_never_crashes(event):
    _outcome(serialize_image_data.handler, event)


@SETTINGS
@given(events)
def test_classifier_never_crashes(event):
    _outcome(classifier.handler, event)


@SETTINGS
@given(events)
def test_filter_never_crashes(event):
    _outcome(filter_low_confidence.handler, event)


content_types = st.one_of(st.sampled_from(["image/png", "image/jpeg", "application/x-image", "application/json",
                                           "application/x-npy", "text/plain", "", "image/png; charset=utf-8"]),
                          st.text(max_size=30))
bodies = st.one_of(st.binary(max_size=2048), json_values.map(lambda v: json.dumps(v).encode()),
                   st.sampled_from([support.truncated_png(), support.bomb_png(20000, 20000), b"\x89PNG\r\n\x1a\n",
                                    b"\xff\xd8\xff", b'{"instances": ["' + b"A" * 1000 + b'"]}']))


@SETTINGS
@given(bodies, content_types)
def test_endpoint_input_fn_answers_or_refuses_with_a_4xx(body, content_type):
    try:
        inference.input_fn(body, content_type)
    except inference.InferenceError as error:
        assert 400 <= error.status < 500 and json.loads(error.to_json())["message"]


@settings(max_examples=60, deadline=10_000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies, content_types)
def test_endpoint_server_survives_hostile_requests(endpoint, body, content_type):
    server, _, _ = endpoint
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    try:
        connection.request("POST", "/invocations", body=body,
                           headers={"Content-Type": content_type.encode("latin-1", "replace").decode("latin-1")
                                    .replace("\n", " ").replace("\r", " ")})
        status = connection.getresponse().status
        assert status == 200 or 400 <= status < 500
    except (http.client.InvalidURL, ValueError, UnicodeEncodeError):
        pass  # the client itself refused to send it
    finally:
        connection.close()
    health = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    health.request("GET", "/ping")
    assert health.getresponse().status == 200
    health.close()


@pytest.mark.parametrize("key", ["../secret.png", "a/../../b.png", "a\\..\\b.png", "x/..", "/etc/passwd",
                                 "ok/../../../root.png"])
def test_path_traversal_keys_are_refused_by_name_before_any_s3_call(key, monkeypatch):
    """The check itself, not S3's answer: a key that climbs out of the prefix never reaches get_object."""
    from lambdas import serialize_image_data
    from lambdas._events import InvalidEventError

    def no_s3(*args, **kwargs):
        raise AssertionError("S3 must not be called for a traversal key")

    monkeypatch.setitem(CLIENTS.made, "s3", type("S3", (), {"get_object": no_s3,
                                                                      "head_object": no_s3})())
    with pytest.raises(InvalidEventError, match="without '..'"):
        serialize_image_data.handler({"s3_bucket": "bkt", "s3_key": key})

"""The three workflow Lambdas as plain functions: S3 on moto, the endpoint behind botocore's Stubber."""

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws

from lambdas import classifier, filter_low_confidence, serialize_image_data
from lambdas._events import (
    EmptyImageError,
    EndpointMisconfiguredError,
    EndpointUnavailableError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidEventError,
    InvalidImageError,
    LowConfidenceError,
)
from lambdas._runtime import CLIENTS
from tests import support


@pytest.fixture
def s3(monkeypatch):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        monkeypatch.setitem(CLIENTS.made, "s3", client)
        yield client


def test_serialize_returns_the_starter_shape(s3):
    image = support.random_png()
    s3.put_object(Bucket="bkt", Key="test/bicycle_s_000513.png", Body=image)
    result = serialize_image_data.handler({"image_data": "", "s3_bucket": "bkt", "s3_key": "test/bicycle_s_000513.png"})
    assert result["statusCode"] == 200
    assert result["body"]["inferences"] == []
    assert base64.b64decode(result["body"]["image_data"]) == image
    assert result["body"]["s3_key"] == "test/bicycle_s_000513.png"


def test_serialize_accepts_a_json_string_body(s3):
    s3.put_object(Bucket="bkt", Key="k.png", Body=b"x")
    result = serialize_image_data.handler({"body": json.dumps({"s3_bucket": "bkt", "s3_key": "k.png"})})
    assert result["body"]["image_data"] == base64.b64encode(b"x").decode()


@pytest.mark.parametrize("key, body, error", [
    ("missing.png", None, ImageNotFoundError),
    ("empty.png", b"", EmptyImageError),
    ("huge.png", b"x" * (200 * 1024), ImageTooLargeError),
])
def test_serialize_errors_are_named(s3, key, body, error):
    if body is not None:
        s3.put_object(Bucket="bkt", Key=key, Body=body)
    with pytest.raises(error, match=key):
        serialize_image_data.handler({"s3_bucket": "bkt", "s3_key": key})


@pytest.mark.parametrize("event, message", [
    ({}, "lacks s3_bucket and s3_key"),
    ({"s3_bucket": "bkt"}, "lacks s3_key"),
    ({"s3_bucket": "bkt", "s3_key": "../../etc/passwd"}, "without '..'"),
    ({"s3_bucket": "bkt", "s3_key": "/abs.png"}, "without '..'"),
    ({"s3_bucket": "b/../c", "s3_key": "k"}, "not a valid S3 bucket name"),
    ({"s3_bucket": 3, "s3_key": ["k"]}, "must be strings"),
    ("[1, 2]", "must be a JSON object"),
    ({"body": "{not json"}, "not JSON"),
    (None, "must be a JSON object"),
])
def test_malformed_events_get_a_clear_error(s3, event, message):
    with pytest.raises(InvalidEventError, match=message):
        serialize_image_data.handler(event)


def _runtime_stub(monkeypatch):
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    monkeypatch.setitem(CLIENTS.made, "sagemaker-runtime", client)
    stubber = Stubber(client)
    stubber.activate()
    return stubber


def _answer(probabilities):
    data = json.dumps(probabilities).encode()
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"}


def test_classifier_puts_probabilities_label_and_confidence(monkeypatch):
    stubber = _runtime_stub(monkeypatch)
    image = support.random_png()
    stubber.add_response("invoke_endpoint", _answer([0.91, 0.09]),
                         {"EndpointName": "prod", "ContentType": "image/png", "Accept": "application/json",
                          "Body": image, "InferenceId": ANY})
    monkeypatch.setenv("ENDPOINT_NAME", "prod")
    event = {"statusCode": 200, "body": {"image_data": base64.b64encode(image).decode(), "s3_key": "k"}}
    body = classifier.handler(event)["body"]
    assert (body["inferences"], body["label"], body["confidence"]) == ([0.91, 0.09], "bicycle", 0.91)
    assert isinstance(body["inferences"], list)


@pytest.mark.parametrize("container, error", [(400, InvalidImageError), (415, InvalidImageError),
                                              (500, EndpointUnavailableError), (503, EndpointUnavailableError),
                                              (429, EndpointUnavailableError)])
def test_classifier_decides_by_the_containers_status_inside_model_error(monkeypatch, container, error):
    """SageMaker answers every container error as ModelError 424; what the container said decides."""
    stubber = _runtime_stub(monkeypatch)
    stubber.add_client_error("invoke_endpoint", service_error_code="ModelError", service_message="Received ...",
                             http_status_code=424, modeled_fields={
                                 "OriginalStatusCode": container,
                                 "OriginalMessage": json.dumps({"error": "x", "message": "nope"}),
                                 "LogStreamArn": "arn:aws:logs:us-east-1:0:log-group:/aws/sagemaker/Endpoints/e"})
    with pytest.raises(error, match=f"\\({container}\\): nope"):
        classifier.handler({"body": {"image_data": base64.b64encode(b"x").decode()}})


@pytest.mark.parametrize("code, status, message, error", [
    ("ValidationError", 400, "Endpoint prod of account 1 not found.", EndpointMisconfiguredError),
    ("ValidationError", 400, "Request payload is too large", InvalidImageError),
    ("ModelNotReadyException", 429, "still loading", EndpointUnavailableError),
    ("ServiceUnavailable", 503, "try later", EndpointUnavailableError),
    ("InternalFailure", 500, "oops", EndpointUnavailableError),
])
def test_classifier_maps_sagemakers_own_errors(monkeypatch, code, status, message, error):
    stubber = _runtime_stub(monkeypatch)
    stubber.add_client_error("invoke_endpoint", service_error_code=code, service_message=message,
                             http_status_code=status)
    with pytest.raises(error, match=message[:10]):
        classifier.handler({"body": {"image_data": base64.b64encode(b"x").decode()}})


def test_classifier_refuses_events_without_image_data():
    with pytest.raises(InvalidEventError, match="run serialize_image_data first"):
        classifier.handler({"body": {"s3_key": "k"}})
    with pytest.raises(InvalidEventError, match="not base64"):
        classifier.handler({"body": {"image_data": "%%%"}})


def test_filter_passes_confident_results_and_accepts_the_starters_strings(monkeypatch):
    monkeypatch.delenv("THRESHOLD", raising=False)
    starter = {"statusCode": 200, "body": json.dumps({"s3_key": "k", "inferences": "[0.95, 0.05]"})}
    result = filter_low_confidence.handler(starter)
    assert result["body"]["inferences"] == [0.95, 0.05]
    assert result["body"]["confidence"] == 0.95


def test_filter_passes_a_confidence_exactly_at_the_threshold(monkeypatch):
    monkeypatch.setenv("THRESHOLD", "0.93")
    assert filter_low_confidence.handler({"body": {"inferences": [0.93, 0.07]}})["body"]["confidence"] == 0.93


def test_filter_raises_low_confidence_below_the_threshold(monkeypatch):
    monkeypatch.setenv("THRESHOLD", "0.93")
    with pytest.raises(LowConfidenceError, match=r"k.png: top confidence 0.9100 \(bicycle\) is below the threshold"):
        filter_low_confidence.handler({"body": {"s3_key": "k.png", "inferences": [0.91, 0.09], "label": "bicycle"}})


@pytest.mark.parametrize("inferences, message", [
    (None, "non-empty list"), ([], "non-empty list"), ("nope", "not JSON"), (["a"], "expected numbers"),
    ([1.5, -0.5], "within \\[0, 1\\]"), ([0.95, 0.95], "sum to 1"), ([0.94, 0.0], "sum to 1"),
    ([True, False], "expected numbers"), ("[NaN, 0.5]", "finite"), ([float("inf"), 0], "finite"),
])
def test_filter_validates_inferences(inferences, message):
    with pytest.raises(InvalidEventError, match=message):
        filter_low_confidence.handler({"body": {"inferences": inferences}})


def test_filter_validates_its_threshold(monkeypatch):
    monkeypatch.setenv("THRESHOLD", "high")
    with pytest.raises(InvalidEventError, match="THRESHOLD must be a number"):
        filter_low_confidence.handler({"body": {"inferences": [0.5, 0.5]}})
    for outside in ("1.5", "-0.1"):
        monkeypatch.setenv("THRESHOLD", outside)
        with pytest.raises(InvalidEventError, match=r"THRESHOLD must be a number between 0 and 1"):
            filter_low_confidence.handler({"body": {"inferences": [0.5, 0.5]}})
    monkeypatch.setenv("THRESHOLD", "0")  # the other edge: everything passes
    assert filter_low_confidence.handler({"body": {"inferences": [0.5, 0.5]}})["body"]["confidence"] == 0.5
    monkeypatch.setenv("THRESHOLD", "1.0")  # the edge: only certainty passes
    assert filter_low_confidence.handler({"body": {"inferences": [1.0, 0.0]}})["body"]["confidence"] == 1.0


def test_handlers_import_nothing_heavy():
    """Cold starts: importing a handler must not import numpy, torch, PIL or sagemaker."""
    import subprocess
    import sys

    code = ("import sys, lambdas.serialize_image_data, lambdas.classifier, lambdas.filter_low_confidence; "
            "print(sorted(m for m in ('numpy', 'torch', 'PIL', 'sagemaker', 'boto3') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_classifier_labels_any_number_of_classes(monkeypatch):
    stubber = _runtime_stub(monkeypatch)
    stubber.add_response("invoke_endpoint", _answer([0.1, 0.2, 0.6, 0.1]))
    monkeypatch.setenv("CLASSES", "beagle,boxer,basset hound,collie")
    body = classifier.handler({"body": {"image_data": base64.b64encode(b"x").decode()}})["body"]
    assert (body["label"], body["confidence"]) == ("basset hound", 0.6)


def _raw_answer(data: bytes):
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"}


@pytest.mark.parametrize("reply, message", [
    (b"[NaN, 0.5]", "finite"), (b"[2, -1]", "within"), (b"[1e309, 0]", "finite"), (b"", "not JSON"),
    (b"<html>oops</html>", "not JSON"), (b"\xff\xfe\x00", "not JSON"), (b"[0.5, 0.3]", "sum to 1"),
    (b"[true, false]", "expected numbers"), (b"[0.2, 0.3, 0.5]", "one probability per class"),
    (b'{"a": 1}', "non-empty list"), (b"[" * 5000 + b"]" * 5000, "not JSON"),
])
def test_classifier_refuses_impossible_endpoint_replies_by_name(monkeypatch, reply, message):
    from lambdas._events import InvalidModelOutputError

    stubber = _runtime_stub(monkeypatch)
    stubber.add_response("invoke_endpoint", _raw_answer(reply))
    monkeypatch.delenv("CLASSES", raising=False)
    with pytest.raises(InvalidModelOutputError, match=message):
        classifier.handler({"body": {"image_data": base64.b64encode(b"x").decode()}})


@pytest.mark.parametrize("bucket, key, message", [
    ("My_Bucket", "k.png", "not a valid S3 bucket name"), ("-bucket", "k.png", "not a valid S3 bucket name"),
    ("b..x", "k.png", "not a valid S3 bucket name"), ("bucket", "\ud800.png", "not valid UTF-8"),
    ("bucket", "a\x00b.png", "contains NUL"), ("bucket", "k" * 1025, "longer than S3 allows"),
])
def test_locations_that_s3_cannot_hold_get_a_named_error(bucket, key, message):
    from lambdas._events import require_location

    with pytest.raises(InvalidEventError, match=message):
        require_location({"s3_bucket": bucket, "s3_key": key})


def test_a_serverless_classifier_captures_each_answer_in_sagemakers_format(monkeypatch):
    """A serverless endpoint has no data capture: with CAPTURE_URI the classifier writes the record to S3 itself."""
    from moto import mock_aws

    from scones.monitor.capture_reader import read_capture
    from scones.store import open_store

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bkt")
        monkeypatch.setitem(CLIENTS.made, "s3", s3)
        stubber = _runtime_stub(monkeypatch)
        image = support.random_png()
        answer = _answer([0.2, 0.8])
        answer.update(CustomAttributes="model-version=4", InvokedProductionVariant="AllTraffic")
        stubber.add_response("invoke_endpoint", answer, {"EndpointName": "prod", "ContentType": "image/png",
                                                         "Accept": "application/json", "Body": image,
                                                         "InferenceId": ANY})
        env = {"ENDPOINT_NAME": "prod", "CAPTURE_URI": "s3://bkt/scones/datacapture"}
        event = {"body": {"image_data": base64.b64encode(image).decode()}}
        body = classifier.make_handler(env, CLIENTS)(event)["body"]
        [key] = [o["Key"] for o in s3.list_objects_v2(Bucket="bkt")["Contents"]]
        assert key.startswith("scones/datacapture/prod/AllTraffic/") and key.endswith(".jsonl")
        scan = read_capture("s3://bkt/scones/datacapture/prod", open_store("s3://", lambda service: s3))
        [prediction] = scan.predictions
        assert prediction.probabilities == (0.2, 0.8) and prediction.model_version == "4"
        assert prediction.inference_id == body["inference_id"], "ground truth joins this record"
        record = json.loads(s3.get_object(Bucket="bkt", Key=key)["Body"].read())
        assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == image

        s3.delete_object(Bucket="bkt", Key=key)
        s3.delete_bucket(Bucket="bkt")  # capture now fails: the classification must not
        stubber.add_response("invoke_endpoint", _answer([0.2, 0.8]), {
            "EndpointName": "prod", "ContentType": "image/png", "Accept": "application/json", "Body": image,
            "InferenceId": ANY})
        assert classifier.make_handler(env, CLIENTS)(event)["body"]["label"] == "motorcycle"

"""Lambda 2/3: send the image to the SageMaker endpoint, put the probabilities in the event.

Settings: ``ENDPOINT_NAME``; ``CLASSES`` (comma separated, the model's
``classes.json`` order, default ``bicycle,motorcycle``). The runtime client comes from
``clients("sagemaker-runtime")`` (:mod:`lambdas._runtime`); the local workflow's points
at the local endpoint. Adds ``inferences`` (a list of floats), ``label`` and ``confidence``,
and ``inference_id`` (sent as InvokeEndpoint's InferenceId, so capture and a reviewer's answer join)
with ``model_version`` (from the endpoint's custom attributes; None when it does not say).

``CAPTURE_URI`` (set when the endpoint is serverless, which has no data capture): each answer is
also written as a data-capture record, in SageMaker's format under the endpoint's capture prefix
(:class:`scones.serving.capture.RecordSink`), so drift checks, live accuracy and the dashboard keep
working. A capture that fails is logged and never fails the classification: SageMaker's own capture
does not fail requests either.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from common.content_types import sniff
from common.defaults import DEFAULT_CLASSES, ENDPOINT_NAME
from lambdas._events import (
    EndpointMisconfiguredError,
    EndpointUnavailableError,
    InvalidEventError,
    InvalidImageError,
    InvalidModelOutputError,
    extract_body,
    probability_problem,
    response,
)
from lambdas._runtime import Clients, Env, entry_point


def content_type_of(data: bytes) -> str:
    return sniff(data)[0]


def classify(data: bytes, endpoint: str, client, classes: int | None = None) -> list[float]:
    """The endpoint's probabilities for ``data``; a reply that is not one probability per class is refused."""
    return invoke(data, endpoint, client, classes)[0]


def invoke(data: bytes, endpoint: str, client, classes: int | None = None,
           inference_id: str | None = None, capture=None) -> tuple[list[float], int | None]:
    """(probabilities, the model version that answered, when the endpoint says: ``model-version=N``).

    ``inference_id`` goes to InvokeEndpoint's ``InferenceId``, which data capture records: it is
    what a person's answer to this image is later joined on. ``capture`` (a RecordSink) records the
    exchange when the endpoint cannot (serverless).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    extra = {"InferenceId": inference_id} if inference_id else {}
    try:
        answer = client.invoke_endpoint(EndpointName=endpoint, ContentType=content_type_of(data),
                                        Accept="application/json", Body=data, **extra)
    except ClientError as exc:
        raise endpoint_error(exc, endpoint) from exc
    except BotoCoreError as exc:
        raise EndpointUnavailableError(f"endpoint {endpoint} unreachable: {exc}") from exc
    raw = answer["Body"].read()
    try:
        result = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # includes an empty body and bytes that are not UTF-8
        raise InvalidModelOutputError(f"endpoint {endpoint} answered {raw[:80]!r}, not JSON") from exc
    problem = probability_problem(result, classes)
    if problem:
        raise InvalidModelOutputError(f"endpoint {endpoint} answered {str(result)[:80]}: {problem}")
    version = _model_version(answer.get("CustomAttributes", ""))
    if capture is not None:
        _capture(capture, endpoint, answer.get("InvokedProductionVariant") or "AllTraffic", data, raw,
                 inference_id, version)
    return [float(v) for v in result], version


def _capture(sink, endpoint: str, variant: str, data: bytes, output: bytes, inference_id: str | None,
             version: int | None) -> None:
    import datetime as dt

    from common.capture import capture_record

    metadata = {**({"inferenceId": inference_id} if inference_id else {}),
                **({"modelVersion": str(version)} if version is not None else {})}
    record = capture_record(content_type_of(data), data, "application/json", output, dt.datetime.now(dt.UTC),
                            metadata)
    try:
        sink.write(endpoint, variant, record)
    except Exception as exc:  # noqa: BLE001 - capture is a record of the answer, never a reason to lose it
        print(json.dumps({"capture_failed": f"{type(exc).__name__}: {exc}", "endpoint": endpoint}))


def endpoint_error(exc, endpoint: str) -> Exception:
    """What an InvokeEndpoint error means for the image, decided as SageMaker reports it.

    ``ModelError`` (424) wraps the container's answer: its ``OriginalStatusCode`` says whether the
    image was refused (4xx: not worth retrying) or the model failed (5xx, or 429: retried as the
    endpoint being unavailable). ``ValidationError`` is SageMaker's own refusal: an endpoint it
    does not know is the function's configuration; anything else (a body over 6 MB) the image.
    Throttling and SageMaker's own 5xx are transient.
    """
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", str(exc))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    if code == "ModelError":
        original = exc.response.get("OriginalStatusCode", error.get("OriginalStatusCode"))
        container = int(original) if str(original).isdigit() else 500
        said = _container_message(exc.response.get("OriginalMessage", error.get("OriginalMessage")), message)
        if 400 <= container < 500 and container != 429:
            return InvalidImageError(f"endpoint {endpoint} refused the image ({container}): {said}")
        return EndpointUnavailableError(f"endpoint {endpoint}: the model failed ({container}): {said}")
    if code == "ValidationError":
        if "not found" in message:
            return EndpointMisconfiguredError(f"endpoint {endpoint}: {message} Check the function's ENDPOINT_NAME "
                                              "(and that the endpoint was deployed: approve a version)")
        return InvalidImageError(f"endpoint {endpoint} refused the request: {message}")
    return EndpointUnavailableError(f"endpoint {endpoint} failed ({status} {code}): {message}")


def _container_message(original, fallback: str) -> str:
    """The container's own ``message`` from its JSON body, else its body, else SageMaker's text."""
    if not original:
        return fallback
    try:
        document = json.loads(original)
    except (TypeError, ValueError):
        return str(original)[:300]
    return str(document.get("message", original))[:300] if isinstance(document, dict) else str(original)[:300]


def _model_version(attributes: str) -> int | None:
    for part in str(attributes or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "model-version" and value.isdigit():
            return int(value)
    return None


def classes_from(env: Env) -> list[str]:
    """The function's ``CLASSES`` setting (comma separated, the model's order)."""
    classes = [c for c in env.get("CLASSES", ",".join(DEFAULT_CLASSES)).split(",") if c]
    if not classes:
        raise ValueError("the classifier needs the model's classes")
    return classes


def make_handler(env: Env, clients: Clients):
    """A handler bound to the function's endpoint and classes, calling through ``clients``."""
    endpoint, classes = env.get("ENDPOINT_NAME", ENDPOINT_NAME), classes_from(env)
    capture = None
    if env.get("CAPTURE_URI"):
        from common.capture import RecordSink

        capture = RecordSink(env["CAPTURE_URI"], clients)

    def configured(event, context=None):
        return _classify_event(event, endpoint, classes, clients("sagemaker-runtime"), capture)

    return configured


handler = entry_point(make_handler)


def _classify_event(event, endpoint: str, classes: list[str], client, capture=None):
    body = extract_body(event)
    image_data = body.get("image_data")
    if not isinstance(image_data, str) or not image_data:
        raise InvalidEventError("event has no image_data: run serialize_image_data first")
    try:
        data = base64.b64decode(image_data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEventError(f"image_data is not base64 ({exc})") from exc
    inference_id = str(uuid.uuid4())
    inferences, version = invoke(data, endpoint, client, len(classes), inference_id, capture)
    top = max(range(len(inferences)), key=inferences.__getitem__)
    label = classes[top]
    return response({**body, "inferences": inferences, "label": label, "confidence": inferences[top],
                     "inference_id": inference_id, "model_version": version})

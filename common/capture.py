"""Data capture records in SageMaker's format, and a writer of one record per object.

Shared by the local endpoint (:mod:`scones.serving.capture`, which batches records into hourly
files) and the classifier Lambda (which captures for a serverless endpoint): one format, so
monitoring reads either unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from pathlib import Path

from common.content_types import media_type

JSON_TYPES = ("application/json",)


def _encode(data: bytes, content_type: str) -> tuple[str, str]:
    if media_type(content_type) in JSON_TYPES:
        try:
            return data.decode("utf-8"), "JSON"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), "BASE64"


def _event_metadata(when: dt.datetime, metadata: dict | None) -> dict:
    return {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **(metadata or {})}


def capture_record(input_type: str, body: bytes, output_type: str, output: bytes,
                   when: dt.datetime, metadata: dict | None = None) -> dict:
    input_data, input_encoding = _encode(body, input_type)
    output_data, output_encoding = _encode(output, output_type)
    return {
        "captureData": {
            "endpointInput": {"observedContentType": input_type, "mode": "INPUT", "data": input_data,
                              "encoding": input_encoding},
            "endpointOutput": {"observedContentType": output_type, "mode": "OUTPUT", "data": output_data,
                               "encoding": output_encoding},
        },
        "eventMetadata": _event_metadata(when, metadata),
        "eventVersion": "0",
    }


def _json_string(data: str, encoding: str) -> str:
    """``json.dumps(data)``; base64 text needs no escaping, so it is quoted, not scanned."""
    return f'"{data}"' if encoding == "BASE64" else json.dumps(data)


def capture_line(input_type: str, body: bytes, output_type: str, output: bytes,
                 when: dt.datetime, metadata: dict | None = None) -> str:
    """``json.dumps(capture_record(...))``, the same text, built around the payloads instead of encoding a
    dict that holds them. Why: an endpoint's capture writes one per request, and this is a third of the
    cost (the capture process runs on the cores the endpoint and its clients use)."""
    input_data, input_encoding = _encode(body, input_type)
    output_data, output_encoding = _encode(output, output_type)
    return (f'{{"captureData": {{"endpointInput": {{"observedContentType": {json.dumps(input_type)}, '
            f'"mode": "INPUT", "data": {_json_string(input_data, input_encoding)}, "encoding": "{input_encoding}"}}, '
            f'"endpointOutput": {{"observedContentType": {json.dumps(output_type)}, "mode": "OUTPUT", '
            f'"data": {_json_string(output_data, output_encoding)}, "encoding": "{output_encoding}"}}}}, '
            f'"eventMetadata": {json.dumps(_event_metadata(when, metadata))}, "eventVersion": "0"}}')


def capture_key(endpoint: str, variant: str, when: dt.datetime) -> str:
    """Where one capture object goes under the capture prefix: SageMaker's layout, one object per record."""
    hour, name = when.strftime("%Y/%m/%d/%H"), when.strftime("%M-%S-%f")
    return f"{endpoint}/{variant}/{hour}/{name}-{uuid.uuid4().hex[:8]}.jsonl"


class RecordSink:
    """Capture written one record per object, for a writer with no long-lived file: the classifier Lambda.

    A serverless endpoint has no data capture, so in that mode the classifier writes what SageMaker
    would have, in the same format and under the same prefix, and monitoring reads it unchanged.
    Chosen by URI: ``s3://bucket/prefix`` (a put per record, the client from ``clients``) or
    ``file:///folder`` (the local store's capture folder).
    """

    def __init__(self, uri: str, clients=None):
        if not uri.startswith(("s3://", "file://")):
            raise ValueError(f"capture destination {uri!r} is not s3://bucket/prefix or file:///folder")
        self.uri = uri.rstrip("/")
        self.clients = clients

    def write(self, endpoint: str, variant: str, record: dict) -> str:
        """Store ``record``; returns where it went."""
        when = dt.datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
        key = capture_key(endpoint, variant, when)
        data = (json.dumps(record) + "\n").encode()
        if self.uri.startswith("file://"):
            path = Path(self.uri[len("file://"):]) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return str(path)
        bucket, _, prefix = self.uri[len("s3://"):].partition("/")
        self.clients("s3").put_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=data)
        return f"{self.uri}/{key}"

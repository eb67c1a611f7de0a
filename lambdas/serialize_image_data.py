"""Lambda 1/3: read the image from S3 and base64-encode it into the event.

Input: ``{"s3_bucket": ..., "s3_key": ..., "image_data": ""}`` (the starter's event).
Output: ``{"statusCode": 200, "body": {"image_data", "s3_bucket", "s3_key", "inferences": []}}``.
"""

from __future__ import annotations

import base64

from lambdas._events import (
    EmptyImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    extract_body,
    require_location,
    response,
)
from lambdas._runtime import Clients, Env, entry_point

#: base64 grows data by 4/3; keep the whole state well under Step Functions' 256 KB.
MAX_IMAGE_BYTES = 180 * 1024

def read_image(bucket: str, key: str, client) -> bytes:
    """One ranged GET: never downloads more than the limit, and tells the true size when over it."""
    from botocore.exceptions import ClientError

    try:
        answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_IMAGE_BYTES}")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise ImageNotFoundError(f"no object at s3://{bucket}/{key}") from exc
        if code == "InvalidRange":  # the only unsatisfiable range starting at byte 0: an empty object
            raise EmptyImageError(f"s3://{bucket}/{key} is empty (0 bytes)") from exc
        raise
    total = int(str(answer.get("ContentRange", "")).rsplit("/", 1)[-1] or answer.get("ContentLength", 0) or 0)
    if total > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(f"s3://{bucket}/{key} is {total:,} bytes; at most {MAX_IMAGE_BYTES:,} fit in a "
                                 "workflow state once base64-encoded (resize it, or send it to the endpoint directly)")
    data = answer["Body"].read()
    if not data:
        raise EmptyImageError(f"s3://{bucket}/{key} is empty (0 bytes)")
    return data


def make_handler(env: Env, clients: Clients):
    """A handler reading through ``clients("s3")``: the function's own (its region and role), or the local world's."""
    def configured(event, context=None):
        return _serialize(event, clients("s3"))

    return configured


handler = entry_point(make_handler)


def _serialize(event, client):
    body = extract_body(event)
    bucket, key = require_location(body)
    data = read_image(bucket, key, client)
    return response({"image_data": base64.b64encode(data).decode("ascii"), "s3_bucket": bucket, "s3_key": key,
                     "inferences": []})

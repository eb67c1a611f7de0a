"""Errors on the Runtime API path as SageMaker answers them, not as the container does.

SageMaker stands between the client and the container. What the container refuses or fails
reaches ``InvokeEndpoint`` callers as ``ModelError`` (HTTP 424) carrying the container's status
and body in ``OriginalStatusCode``/``OriginalMessage`` and the endpoint's log stream; what
SageMaker refuses itself (an endpoint it does not know, a body over 6 MB) is ``ValidationError``
(400). botocore's model of ``sagemaker-runtime`` lists these shapes; boto3 and the SDK's
``Predictor`` raise their classes from the ``x-amzn-ErrorType`` header and the JSON body, so the
local endpoint answering this way gives callers the exceptions AWS would.

The container path (``POST /invocations``) keeps the handler's own status and JSON: that is what
the model server sends SageMaker.
"""

from __future__ import annotations

import json

ACCOUNT = "000000000000"  # the local account, as moto's
REGION = "us-east-1"
#: SageMaker names the container that answered; a single-container endpoint's is "primary".
CONTAINER = "primary"


def log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


def model_error(endpoint: str, status: int, container_body: bytes, region: str = REGION) -> tuple[int, bytes, str]:
    """(424, body, error type) for a container's non-200 answer."""
    original = container_body.decode("utf-8", errors="replace")
    kind = "client" if 400 <= status < 500 else "server"
    console = (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group="
               f"{log_group(endpoint)}")
    message = (f'Received {kind} error ({status}) from {CONTAINER} with message "{original}". See {console} in '
               f"account {ACCOUNT} for more information.")
    body = {"Message": message, "OriginalStatusCode": status, "OriginalMessage": original,
            "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{log_group(endpoint)}"}
    return 424, json.dumps(body).encode(), "ModelError"


def validation_error(message: str) -> tuple[int, bytes, str]:
    """(400, body, error type) for what SageMaker itself refuses before any container sees the request."""
    return 400, json.dumps({"Message": message}).encode(), "ValidationError"


def endpoint_not_found(endpoint: str) -> tuple[int, bytes, str]:
    return validation_error(f"Endpoint {endpoint} of account {ACCOUNT} not found.")


def throttling(message: str) -> tuple[int, bytes, str]:
    """(400, body, error type) for a serverless endpoint past its MaxConcurrency.

    AWS's common ``ThrottlingException`` (HTTP 400): not in botocore's sagemaker-runtime model, so
    boto3 raises a plain ClientError with that code, and its retry handler retries it as throttling.
    """
    return 400, json.dumps({"message": message}).encode(), "ThrottlingException"

"""Keeping the SageMaker SDK (v2) quiet and offline while it renders definitions.

The SDK reports each decorated call (``estimator.fit``, ``processor.run``...) to
an S3-hosted telemetry endpoint, looking the account up through STS first;
offline that is a credential search, an STS call and an HTTP request per step.
The documented opt-out is an SDK config file, but any config file makes every
SDK default lookup re-validate a JSON schema (measured: rendering this
pipeline went from ~0.9 s to ~11 s). So the one reporting function is
replaced, unless ``SCONES_SDK_TELEMETRY=1`` asks to keep it. This is a private
hook of ``sagemaker`` 2.257 (pinned); ``tests/pipelines`` fails if it moves.
"""

from __future__ import annotations

import logging
import os
import warnings

_original = None


def _silent(*args, **kwargs) -> None:
    return None


def prepare_offline() -> None:
    """Call before importing ``sagemaker`` when no AWS account is involved.

    Importing the SDK builds a default session (``sagemaker.jumpstart``), and
    botocore then searches for credentials, ending at the EC2 instance metadata
    service: a network call, and a one-second stall on a laptop. Local runs and
    offline renders need no credentials, so that last lookup is switched off.
    """
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    quiet_sdk_logs()


def quiet_sdk_logs() -> None:
    """The SDK logs INFO/WARNING lines for every rendered step ("Popping out 'ProcessingJobName'...").

    They describe the SDK's own bookkeeping, not the user's pipeline; keep errors only.
    """
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    for name in ("sagemaker", "sagemaker.config", "sagemaker.workflow", "sagemaker.image_uris", "botocore",
                 "stepfunctions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Running within a PipelineSession")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="sagemaker")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # stepfunctions 2.3.0 imports it


def disable_sdk_telemetry() -> bool:
    """Replace the SDK's telemetry sender with a no-op; returns whether it is now disabled."""
    global _original
    if os.environ.get("SCONES_SDK_TELEMETRY") == "1":
        return False
    from sagemaker.telemetry import telemetry_logging

    if telemetry_logging._send_telemetry_request is not _silent:
        _original = telemetry_logging._send_telemetry_request
        telemetry_logging._send_telemetry_request = _silent
    return True

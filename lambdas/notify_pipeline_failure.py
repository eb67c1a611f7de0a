"""Lambda: a SageMaker pipeline execution failed -> tell the team which step, why, and where the logs are.

Triggered by EventBridge "SageMaker Model Building Pipeline Execution Status Change" with
``currentPipelineExecutionStatus`` = ``Failed`` (the template's rule). The event carries no
reason, so the handler asks SageMaker for the execution and its steps. Environment:
``NOTIFY_TOPIC_ARN``. The local engine sends the same message (``messages.pipeline_failed``).
"""

from __future__ import annotations

import os

DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"


class InvalidFailureEvent(ValueError):
    """The event is not a pipeline execution status change."""


def handler(event, context=None, client=None, notifier=None):
    from scones import pipeline_service
    from scones.notify import SnsNotifier, messages

    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or event.get("detail-type") != DETAIL_TYPE \
            or not detail.get("pipelineExecutionArn"):
        raise InvalidFailureEvent(f"expected a {DETAIL_TYPE!r} event with detail.pipelineExecutionArn")
    if detail.get("currentPipelineExecutionStatus") != "Failed":
        return {"ignored": f"status {detail.get('currentPipelineExecutionStatus')!r} is not Failed"}
    if client is None:
        import boto3

        client = boto3.client("sagemaker")
    status = pipeline_service.describe(client, detail["pipelineExecutionArn"])
    subject, message = messages.pipeline_failed_in_sagemaker(status)
    (notifier or SnsNotifier(os.environ["NOTIFY_TOPIC_ARN"])).send("pipeline_failed", subject, message)
    return {"notified": subject}

"""Lambda: a SageMaker pipeline execution failed -> tell the team which step, why, and where the logs are.

Triggered by EventBridge "SageMaker Model Building Pipeline Execution Status Change" with
``currentPipelineExecutionStatus`` = ``Failed`` (the template's rule). The event carries no
reason, so the handler asks SageMaker for the execution and its steps. Settings:
``NOTIFY_TOPIC_ARN``. The local engine sends the same message (``messages.pipeline_failed``).
"""

from __future__ import annotations

from common.defaults import PIPELINE_EXECUTION_EVENT
from lambdas._runtime import Clients, Env, entry_point

DETAIL_TYPE = PIPELINE_EXECUTION_EVENT


class InvalidFailureEvent(ValueError):
    """The event is not a pipeline execution status change."""


def notify(event, client, notifier) -> dict:
    """Describe the failed execution through ``client`` and tell ``notifier`` which step failed and why."""
    from scones import pipeline_service
    from scones.notify import messages

    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or event.get("detail-type") != DETAIL_TYPE \
            or not detail.get("pipelineExecutionArn"):
        raise InvalidFailureEvent(f"expected a {DETAIL_TYPE!r} event with detail.pipelineExecutionArn")
    if detail.get("currentPipelineExecutionStatus") != "Failed":
        return {"ignored": f"status {detail.get('currentPipelineExecutionStatus')!r} is not Failed"}
    status = pipeline_service.describe(client, detail["pipelineExecutionArn"])
    subject, message = messages.pipeline_failed_in_sagemaker(status)
    notifier.send("pipeline_failed", subject, message)
    return {"notified": subject}


def make_handler(env: Env, clients: Clients):
    """A handler reading SageMaker through ``clients``, notifying the function's ``NOTIFY_TOPIC_ARN``."""
    from scones.notify import SnsNotifier

    notifier = SnsNotifier(env["NOTIFY_TOPIC_ARN"], clients("sns"))
    return lambda event, context=None: notify(event, clients("sagemaker"), notifier)


handler = entry_point(make_handler)

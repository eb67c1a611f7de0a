"""The inference workflow, built with the AWS Step Functions Data Science SDK.

Single image::

    SerializeImageData -> ClassifyImage -> FilterLowConfidence -> (success)
         \\ any error (after retries) -> StartHumanReview (the review queue) -> NotifyHumanReview (SNS)
                                        -> SentToHumanReview (Fail, with the reason)

Batch: a Map over ``$.s3_keys`` (``MaxConcurrency`` bounded) runs the same three
tasks per image; an image that fails goes through the same SNS notification and
ends as ``{"status": "review", ...}`` so the other images still complete. Each
iteration returns only the key, label and probabilities -- never the image
bytes -- so a Map over 1,000 images stays far below the 256 KB state limit.

``stepfunctions`` 2.3.0 is unmaintained (its maintainers point to CDK); every
use of it is in this module, so it can be swapped without touching callers.
It predates ``ErrorPath``/``CausePath``; :class:`FailWithReason` adds them.
"""

from __future__ import annotations

import json

from stepfunctions.steps import Catch, Chain, Fail, LambdaStep, Map, Pass, Retry
from stepfunctions.steps.service import SnsPublishStep
from stepfunctions.steps.states import Graph

from inference_workflow.tasks import LAMBDA_SERVICE_ERRORS, Task
from inference_workflow.workflow_config import REVIEW_ERROR, WorkflowConfig

__all__ = ["LAMBDA_SERVICE_ERRORS", "REVIEW_ERROR", "WorkflowConfig", "definition"]


class LambdaStepWithSelector(LambdaStep):
    """A Lambda task that keeps only some of the invocation's result (ASL ``ResultSelector``; the SDK predates it)."""

    def __init__(self, state_id: str, result_selector: dict, **kwargs):
        super().__init__(state_id, **kwargs)
        self.result_selector = result_selector

    def to_dict(self) -> dict:
        result = super().to_dict()
        result["ResultSelector"] = self.result_selector
        return result


class FailWithReason(Fail):
    """A Fail state whose error and cause come from the state input (ASL ``ErrorPath``/``CausePath``)."""

    def __init__(self, state_id: str, error_path: str, cause_path: str, **kwargs):
        super().__init__(state_id, **kwargs)
        self.error_path, self.cause_path = error_path, cause_path

    def to_dict(self) -> dict:
        result = super().to_dict()
        result.update({"ErrorPath": self.error_path, "CausePath": self.cause_path})
        return result


def _task(task: Task, config: WorkflowConfig) -> LambdaStep:
    step = LambdaStep(task.state, parameters={"FunctionName": config.function(task), "Payload.$": "$"},
                      output_path="$.Payload")
    step.add_retry(Retry(error_equals=[*LAMBDA_SERVICE_ERRORS, *task.retry_errors],
                         interval_seconds=config.retry_interval_seconds, max_attempts=config.retry_max_attempts,
                         backoff_rate=config.retry_backoff_rate))
    return step


def _tasks(config: WorkflowConfig) -> list[LambdaStep]:
    """One Lambda state per row of the task table, chained in its order."""
    return [_task(task, config) for task in config.tasks]


def _review(config: WorkflowConfig, notify: SnsPublishStep) -> LambdaStep:
    """Queue the caught image for a person (the failing state's input, the error, the execution), then notify.

    The result keeps only the item's id and status, so a Map over many reviewed images stays small;
    should queueing itself fail, the notification still goes out.
    """
    task = config.review_task
    step = LambdaStepWithSelector(
        task.state, {"id.$": "$.Payload.id", "status.$": "$.Payload.status"},
        parameters={"FunctionName": config.function(task),
                    "Payload": {"input.$": "$", "execution.$": "$$.Execution.Id"}},
        result_path="$.review")
    step.add_retry(Retry(error_equals=[*LAMBDA_SERVICE_ERRORS], interval_seconds=config.retry_interval_seconds,
                         max_attempts=config.retry_max_attempts, backoff_rate=config.retry_backoff_rate))
    step.add_catch(Catch(error_equals=["States.ALL"], next_step=notify, result_path="$.review"))
    step.next(notify)
    return step


def _notify(state_id: str, config: WorkflowConfig) -> SnsPublishStep:
    return SnsPublishStep(state_id, parameters={
        "TopicArn": config.review_topic_arn,
        "Subject": "scones: image sent to human review",
        "Message.$": "States.JsonToString($.error)",
    }, result_path=None)


def _catch_all(tasks: list[LambdaStep], handler) -> None:
    for task in tasks:
        task.add_catch(Catch(error_equals=["States.ALL"], next_step=handler, result_path="$.error"))


def single_image_graph(config: WorkflowConfig | None = None) -> Graph:
    config = config or WorkflowConfig()
    tasks = _tasks(config)
    notify = _notify("NotifyHumanReview", config)
    notify.next(FailWithReason(REVIEW_ERROR, error_path="$.error.Error", cause_path="$.error.Cause"))
    _catch_all(tasks, _review(config, notify))
    return Graph(Chain(tasks))


def batch_graph(config: WorkflowConfig | None = None) -> Graph:
    config = config or WorkflowConfig()
    tasks = _tasks(config)
    passed = Pass("Classified", parameters={
        "status": "passed", "s3_key.$": "$.body.s3_key", "label.$": "$.body.label",
        "confidence.$": "$.body.confidence", "inferences.$": "$.body.inferences", "audit_id.$": "$.body.audit_id"})
    notify = _notify("NotifyHumanReview", config)
    notify.next(Pass("SentToReview", parameters={"status": "review", "error.$": "$.error.Error",
                                                 "cause.$": "$.error.Cause", "review.$": "$.review"}))
    _catch_all(tasks, _review(config, notify))
    each = Map("ClassifyEachImage", items_path="$.s3_keys", max_concurrency=config.max_concurrency,
               parameters={"s3_bucket.$": "$.s3_bucket", "s3_key.$": "$$.Map.Item.Value", "image_data": ""},
               iterator=Chain([*tasks, passed]))
    return Graph(Chain([each]))


def definition(config: WorkflowConfig | None = None, batch: bool = False) -> dict:
    """The Amazon States Language document, as a dict."""
    graph = batch_graph(config) if batch else single_image_graph(config)
    return json.loads(graph.to_json())


def workflow(name: str, role_arn: str, config: WorkflowConfig | None = None, batch: bool = False, client=None):
    """A ``stepfunctions.workflow.Workflow`` for create/update/execute against AWS (client injectable)."""
    from stepfunctions.workflow import Workflow

    graph = batch_graph(config) if batch else single_image_graph(config)
    return Workflow(name=name, definition=graph, role=role_arn, client=client)

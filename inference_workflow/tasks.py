"""The inference workflow's tasks, one row each: every place that names a task reads it here.

The Step Functions definition (:mod:`inference_workflow.workflow`), the local runner
(:mod:`scones.workflow.runtime`), the CloudFormation template (:mod:`scones.infra.template`)
and ``scones workflow`` all build from :data:`TASKS`, in this order. Adding a Lambda to the
workflow is one row here and one handler module under ``lambdas/`` defining
``make_handler(env, clients)`` (README, "Adding a task to the workflow").

No SDK import: the template, the CLI and the local runner read this without paying for
the Step Functions SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.defaults import BASE_PREFIX

#: What the Lambda service itself throws; always worth a retry.
LAMBDA_SERVICE_ERRORS = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                         "Lambda.TooManyRequestsException")
#: The alias every task's function is called through (provisioned concurrency attaches to it).
LIVE_ALIAS = "live"


@dataclass(frozen=True, kw_only=True)
class Task:
    """One Lambda task of the workflow.

    Attributes:
        state: the state's name in the definition (``ClassifyImage``); a Map's iteration uses the same.
        handler: the function's module; its ``handler`` is the Lambda entry point, its
            ``make_handler(env, clients)`` what the local runner calls.
        logical_id: the function's CloudFormation resource (``ClassifierFunction``); its live alias is
            ``<logical_id>LiveAlias``, its ARN reaches the definition as ``${<logical_id>Arn}``.
        function: the function's name after the project prefix (``classifier`` -> ``scones-classifier``).
        settings: the environment variables the function reads (the template sets them; the local
            runner fills them from its own configuration). Known names: ``SETTING_SOURCES`` in the template.
        permissions: what the function may do, by name (``read_images``, ``invoke_endpoint``): the
            template turns each into a least-privilege IAM statement.
        retry_errors: the function's own error names worth a retry, beyond :data:`LAMBDA_SERVICE_ERRORS`.
    """

    state: str
    handler: str
    logical_id: str
    function: str
    settings: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    retry_errors: tuple[str, ...] = ()

    @property
    def default_function_name(self) -> str:
        return f"{BASE_PREFIX}-{self.function}"

    @property
    def arn_variable(self) -> str:
        """The ``DefinitionSubstitutions`` variable that carries the function's ARN in the template."""
        return f"{self.logical_id}Arn"

    @property
    def alias_logical_id(self) -> str:
        return f"{self.logical_id}LiveAlias"


TASKS: tuple[Task, ...] = (
    Task(state="SerializeImageData", handler="lambdas.serialize_image_data", logical_id="SerializeFunction",
         function="serialize-image-data", permissions=("read_images",)),
    Task(state="ClassifyImage", handler="lambdas.classifier", logical_id="ClassifierFunction",
         function="classifier", settings=("ENDPOINT_NAME", "CLASSES", "CAPTURE_URI"),
         permissions=("invoke_endpoint", "write_capture"),
         retry_errors=("EndpointUnavailableError",)),  # the endpoint is down or throttled
    Task(state="FilterLowConfidence", handler="lambdas.filter_low_confidence", logical_id="FilterFunction",
         function="filter-low-confidence", settings=("THRESHOLD",)),
    Task(state="SampleForAudit", handler="lambdas.sample_for_audit", logical_id="AuditSampleFunction",
         function="sample-for-audit", settings=("REVIEW_QUEUE", "REVIEW_SAMPLE", "CLASSES"),
         permissions=("start_human_loop",)),
)


#: The review branch's task: every caught failure goes to a person before the notification.
REVIEW_TASK = Task(state="StartHumanReview", handler="lambdas.start_human_review", logical_id="ReviewFunction",
                   function="start-human-review", settings=("REVIEW_QUEUE", "CLASSES"),
                   permissions=("start_human_loop",))
#: Every task with a function of its own: the chain, then the review branch.
ALL_TASKS: tuple[Task, ...] = (*TASKS, REVIEW_TASK)


def task_named(state: str, tasks: tuple[Task, ...] = TASKS) -> Task:
    """The row for a state name; an unknown name lists the known ones."""
    for task in tasks:
        if task.state == state:
            return task
    if state == REVIEW_TASK.state:
        return REVIEW_TASK
    raise KeyError(f"no workflow task {state!r}; tasks: {', '.join(t.state for t in (*tasks, REVIEW_TASK))}")

"""Workflow configuration and error names: no SDK import, so callers stay light."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from inference_workflow.tasks import LAMBDA_SERVICE_ERRORS, REVIEW_TASK, TASKS, Task

__all__ = ["LAMBDA_SERVICE_ERRORS", "REVIEW_ERROR", "WorkflowConfig"]

REVIEW_ERROR = "SentToHumanReview"


@dataclass(frozen=True, kw_only=True)
class WorkflowConfig:
    """Names and knobs, by keyword only (a new field cannot shift the others).

    ``functions`` maps a task's state name to its function's name or ARN; a task not named
    there is called by its default name (``scones-<function>``).
    """

    functions: Mapping[str, str] = field(default_factory=dict)
    review_topic_arn: str = "arn:aws:sns:us-east-1:123456789012:scones-human-review"
    retry_interval_seconds: int = 2
    retry_max_attempts: int = 3
    retry_backoff_rate: float = 2.0
    max_concurrency: int = 10
    tasks: tuple[Task, ...] = TASKS
    review_task: Task = REVIEW_TASK

    @property
    def all_tasks(self) -> tuple[Task, ...]:
        """Every task with a function: the chain's, then the review branch's."""
        return (*self.tasks, self.review_task)

    def function(self, task: Task) -> str:
        """The name or ARN the workflow calls for ``task``."""
        return self.functions.get(task.state, task.default_function_name)

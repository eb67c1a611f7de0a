"""The AWS side of pipelines: stage code, upsert, start, and watch an execution.

Shared by ``scones pipeline upsert|start|status`` and the seed-code compatible
``run-pipeline``. Every call goes through an injectable boto3 client, so tests
run it against moto (and botocore's Stubber where moto lacks an operation).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from scones.errors import NotFound, SconesError

TERMINAL = {"Succeeded", "Failed", "Stopped"}


@dataclass(frozen=True)
class ExecutionStatus:
    arn: str
    status: str
    failure_reason: str
    steps: list[dict[str, Any]]  # ListPipelineExecutionSteps summaries (empty when unavailable)


def upsert(pipeline, role_arn: str, step_code=None, store=None, description: str | None = None,
           tags: list[dict] | None = None) -> str:
    """Upload the step code (if any), then create or update the pipeline; returns its ARN."""
    if step_code is not None:
        if store is None:
            from scones.store.s3 import S3Store

            store = S3Store(pipeline.sagemaker_session.boto_session.client("s3"))
        uris = step_code.upload(store)
        print(f"step code staged: {step_code.prefix} ({len(uris)} files)")
        _ensure_reviewed(pipeline, store)
    response = pipeline.upsert(role_arn=role_arn, description=description, tags=tags)
    return response["PipelineArn"]


def _ensure_reviewed(pipeline, store) -> None:
    """SageMaker refuses a processing input with nothing under it: give ReviewedDataUrl's prefix a placeholder."""
    from scones.review.staging import ensure_reviewed_input

    for parameter in pipeline.parameters:
        if parameter.name == "ReviewedDataUrl" and str(parameter.default_value).startswith("s3://"):
            ensure_reviewed_input(store, parameter.default_value)


def start(client, pipeline_name: str, parameters: dict[str, Any] | None = None,
          display_name: str | None = None, selective: dict | None = None, max_parallel_steps: int | None = None) -> str:
    """``selective``: a SelectiveExecutionConfig (SelectedSteps, SourcePipelineExecutionArn);
    ``max_parallel_steps``: this execution's ParallelismConfiguration."""
    kwargs: dict[str, Any] = {"PipelineName": pipeline_name}
    if selective:
        kwargs["SelectiveExecutionConfig"] = selective
    if max_parallel_steps is not None:
        kwargs["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": max_parallel_steps}
    if parameters:
        kwargs["PipelineParameters"] = [{"Name": k, "Value": str(v)} for k, v in parameters.items()]
    if display_name:
        kwargs["PipelineExecutionDisplayName"] = display_name
    return client.start_pipeline_execution(**kwargs)["PipelineExecutionArn"]


def stop(client, execution_arn: str) -> None:
    """StopPipelineExecution; the token makes a repeated stop of the same execution one request."""
    client.stop_pipeline_execution(PipelineExecutionArn=execution_arn, ClientRequestToken=_token(execution_arn))


def retry(client, execution_arn: str) -> str:
    """RetryPipelineExecution: SageMaker runs the failed steps of the same execution again."""
    import uuid

    return client.retry_pipeline_execution(PipelineExecutionArn=execution_arn,
                                           ClientRequestToken=str(uuid.uuid4()))["PipelineExecutionArn"]


def _token(execution_arn: str) -> str:
    import hashlib

    return "stop-" + hashlib.sha256(execution_arn.encode()).hexdigest()[:32]


def describe(client, execution_arn: str) -> ExecutionStatus:
    from botocore.exceptions import ClientError

    try:
        response = client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    except ClientError as exc:
        raise NotFound(f"no pipeline execution {execution_arn}: {exc}") from exc
    try:
        steps = client.list_pipeline_execution_steps(PipelineExecutionArn=execution_arn,
                                                     SortOrder="Ascending")["PipelineExecutionSteps"]
    except (ClientError, NotImplementedError):
        steps = []  # e.g. an emulator without this operation: the execution status still shows
    return ExecutionStatus(execution_arn, response["PipelineExecutionStatus"],
                           response.get("FailureReason", ""), steps)


def format_step(step: dict[str, Any]) -> str:
    start, end = step.get("StartTime"), step.get("EndTime")
    seconds = f"{(end - start).total_seconds():6.1f} s" if start and end else ""
    reason = step.get("FailureReason", "")
    return f"  {step['StepName']:<28} {step.get('StepStatus', ''):<10} {seconds} {reason}".rstrip()


def wait(client, execution_arn: str, poll_seconds: float = 30.0, timeout_seconds: float = 4 * 3600,
         stream: TextIO | None = None, sleep: Callable[[float], None] = time.sleep) -> ExecutionStatus:
    """Poll until the execution ends, printing each step once when its status changes."""
    out = stream or sys.stdout
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = describe(client, execution_arn)
        for step in status.steps:
            if seen.get(step["StepName"]) != step.get("StepStatus"):
                seen[step["StepName"]] = step.get("StepStatus", "")
                print(format_step(step), file=out, flush=True)
        if status.status in TERMINAL:
            print(f"execution {execution_arn.rsplit('/', 1)[-1]} {status.status}"
                  + (f": {status.failure_reason}" if status.failure_reason else ""), file=out, flush=True)
            return status
        if time.monotonic() > deadline:
            raise SconesError(f"execution {execution_arn} still {status.status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)

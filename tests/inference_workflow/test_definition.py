"""The ASL the stepfunctions SDK renders."""

import json

import pytest

from inference_workflow.workflow import LAMBDA_SERVICE_ERRORS, REVIEW_ERROR, WorkflowConfig, definition


@pytest.fixture(scope="module")
def single():
    return definition(WorkflowConfig(review_topic_arn="arn:aws:sns:us-east-1:123456789012:review"))


def test_the_lambda_tasks_in_order(single):
    states = single["States"]
    assert single["StartAt"] == "SerializeImageData"
    assert states["SerializeImageData"]["Next"] == "ClassifyImage"
    assert states["ClassifyImage"]["Next"] == "FilterLowConfidence"
    assert states["FilterLowConfidence"]["Next"] == "SampleForAudit"
    assert states["SampleForAudit"]["End"] is True
    for name in ("SerializeImageData", "ClassifyImage", "FilterLowConfidence", "SampleForAudit"):
        assert states[name]["Resource"] == "arn:aws:states:::lambda:invoke"
        assert states[name]["Parameters"]["Payload.$"] == "$"


def test_every_task_retries_service_errors_and_catches_everything(single):
    for name in ("SerializeImageData", "ClassifyImage", "FilterLowConfidence"):
        state = single["States"][name]
        retry = state["Retry"][0]
        assert set(LAMBDA_SERVICE_ERRORS) <= set(retry["ErrorEquals"])
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (2, 3, 2.0)
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                   "Next": "StartHumanReview"}]
    assert "EndpointUnavailableError" in single["States"]["ClassifyImage"]["Retry"][0]["ErrorEquals"]


def test_catch_queues_the_image_for_a_person_then_notifies_even_if_queueing_fails(single):
    review = single["States"]["StartHumanReview"]
    assert review["Resource"] == "arn:aws:states:::lambda:invoke"
    assert review["Parameters"]["FunctionName"] == "scones-start-human-review"
    assert review["Parameters"]["Payload"] == {"input.$": "$", "execution.$": "$$.Execution.Id"}
    assert review["ResultSelector"] == {"id.$": "$.Payload.id", "status.$": "$.Payload.status"}
    assert review["ResultPath"] == "$.review" and review["Next"] == "NotifyHumanReview"
    assert review["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.review", "Next": "NotifyHumanReview"}]


def test_catch_goes_to_sns_then_fails_with_the_reason(single):
    notify = single["States"]["NotifyHumanReview"]
    assert notify["Resource"] == "arn:aws:states:::sns:publish"
    assert notify["Parameters"]["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:review"
    fail = single["States"][notify["Next"]]
    assert fail == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert notify["Next"] == REVIEW_ERROR


def test_retry_knobs_are_parameters():
    document = definition(WorkflowConfig(retry_interval_seconds=5, retry_max_attempts=6, retry_backoff_rate=1.5))
    retry = document["States"]["ClassifyImage"]["Retry"][0]
    assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (5, 6, 1.5)


def test_batch_is_a_map_over_s3_keys_returning_no_image_bytes():
    document = definition(WorkflowConfig(max_concurrency=7), batch=True)
    each = document["States"][document["StartAt"]]
    assert each["Type"] == "Map" and each["ItemsPath"] == "$.s3_keys" and each["MaxConcurrency"] == 7
    assert each["Parameters"]["s3_key.$"] == "$$.Map.Item.Value"
    inner = each["Iterator"]["States"]
    assert {"SerializeImageData", "ClassifyImage", "FilterLowConfidence", "NotifyHumanReview"} <= set(inner)
    for name in ("Classified", "SentToReview"):
        assert "image_data" not in str(inner[name]["Parameters"])
    assert inner["NotifyHumanReview"]["Next"] == "SentToReview"
    assert inner["SentToReview"]["Parameters"]["review.$"] == "$.review"


def test_moto_private_hooks_still_exist():
    """scones.workflow.moto_hooks replaces these; if moto moves them this must fail loudly."""
    import copy
    import importlib
    import threading

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.utils import TMP_THREADS
    from moto.stepfunctions.responses import get_backend

    from scones.workflow.moto_hooks import _STATE_COPIERS

    assert callable(lambda_eval_utils._invoke_lambda_function)
    assert callable(json_path.parse) and callable(result_path.parse)
    assert isinstance(AmazonStateLanguageParser.__dict__["parse"], staticmethod)
    assert callable(BaseExecutionWorkerCommunication.terminated)
    assert isinstance(TMP_THREADS, list)
    assert all(importlib.import_module(name).copy is copy for name in _STATE_COPIERS)
    assert execute_state.Thread is threading.Thread and callable(execute_state.ExecutionState._evaluate_with_timeout)
    assert TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS == 99999999
    assert callable(event_manager.iso_8601_datetime_with_milliseconds)
    backend = get_backend("123456789012", "us-east-1")  # the runner starts, stops and reads executions through it
    assert callable(backend.start_execution) and callable(backend.stop_execution)


def test_the_interpreter_starts_without_mocks_it_does_not_use_and_batch_still_works():
    """moto.batch's package init builds moto's EC2 region tables (0.9 s of `scones classify`); deferred, it runs
    only when Batch is asked for. A fresh interpreter, as a user's command is."""
    import subprocess
    import sys

    script = """
import sys
from scones.workflow.moto_hooks import defer_moto_batch
defer_moto_batch()
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
assert "moto.ec2" not in sys.modules, "the interpreter loaded EC2"
import boto3
from moto import mock_aws
with mock_aws():
    batch = boto3.client("batch", region_name="us-east-1")
    print(batch.describe_job_queues()["jobQueues"], "moto.ec2" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"], done.stdout


def test_a_new_workspace_reuses_the_state_machines_another_rendered(tmp_path, monkeypatch):
    """Rendering imports the SageMaker SDK (3 s of a first `scones classify`); the renderings are kept per user, as
    the pipeline's are, so a new SCONES_HOME on the same machine starts without it."""
    import os
    import subprocess
    import sys

    from inference_workflow.workflow_config import WorkflowConfig
    from scones.settings import Settings
    from scones.workflow.cache import cached_definition

    monkeypatch.setenv("SCONES_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("SCONES_HOME", str(tmp_path / "first"))
    rendered = cached_definition(WorkflowConfig(), True, Settings.from_env().workflow_definitions)
    script = """
import json, sys
from inference_workflow.workflow_config import WorkflowConfig
from scones.settings import Settings
from scones.workflow.cache import cached_definition
document = cached_definition(WorkflowConfig(), True, Settings.from_env().workflow_definitions)
print(json.dumps(document), "sagemaker" in sys.modules)
"""
    env = {**os.environ, "SCONES_HOME": str(tmp_path / "second")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    document, imported = done.stdout.rsplit(" ", 1)
    assert json.loads(document) == rendered and imported.strip() == "False"

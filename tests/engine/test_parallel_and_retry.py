"""Independent steps run at once (ParallelismConfiguration), and step retry policies as SageMaker applies them."""

import pytest

from scones.engine.executor import LocalPipelineExecutor
from scones.engine.progress import QuietReporter
from scones.engine.retry import policy_errors, retry_delay
from scones.errors import InvalidInput
from tests.engine.test_executor import UPPER, output_of, processing

NAP = "import time, pathlib, sys; time.sleep(1.5); pathlib.Path(sys.argv[2], 'out.txt').write_text('x')"
FAIL = "import sys; sys.exit(3)"


def diamond(b_code=NAP, c_code=NAP):
    """A -> (B, C) -> D: B and C depend only on A."""
    d = processing("D", output_of("B"), code=UPPER.replace("in.txt", "out.txt"))
    d["DependsOn"] = ["C"]
    return {"Version": "2020-12-01",
            "Parameters": [{"Name": "Source", "Type": "String", "DefaultValue": "s3://bkt/data"}],
            "Steps": [processing("A", {"Get": "Parameters.Source"}), processing("B", output_of("A"), code=b_code),
                      processing("C", output_of("A"), code=c_code), d]}


def overlap(record, first, second) -> bool:
    a, b = record.step(first), record.step(second)
    return a.started < b.ended and b.started < a.ended


def test_independent_steps_run_at_once_and_a_join_waits_for_both(engine):
    record = engine.start(diamond(), "P")
    assert record.status == "Succeeded", record.failure_reason
    assert overlap(record, "B", "C")
    assert record.step("D").started >= max(record.step("B").ended, record.step("C").ended)
    assert record.step("B").started >= record.step("A").ended


def test_max_parallel_steps_one_runs_them_one_at_a_time(engine):
    serial = LocalPipelineExecutor(engine.store, engine.registry, engine.runs_dir, QuietReporter(),
                                   max_parallel_steps=1)
    record = serial.start(diamond(), "P")
    assert record.status == "Succeeded", record.failure_reason
    assert not overlap(record, "B", "C")


def test_a_failure_lets_running_siblings_finish_and_starts_nothing_after(engine):
    record = engine.start(diamond(b_code=FAIL), "P")
    assert [record.step(n).status for n in "ABCD"] == ["Succeeded", "Failed", "Succeeded", "NotExecuted"]
    assert record.status == "Failed" and "Step B failed" in record.failure_reason


def test_parallelism_below_one_is_refused_as_sagemaker_refuses_it(engine):
    with pytest.raises(InvalidInput, match="MaxParallelExecutionSteps must be at least 1, got 0"):
        LocalPipelineExecutor(engine.store, engine.registry, engine.runs_dir, QuietReporter(), max_parallel_steps=0)


# ---------------------------------------------------------------------------------------------- retry

def killed_once(tmp_path):
    """A job that dies of SIGKILL on its first attempt (an instance failure) and succeeds on the next."""
    flag = tmp_path / "attempted"
    return (f"import os, pathlib, signal, sys; flag = pathlib.Path({str(flag)!r})\n"
            "if not flag.exists():\n    flag.write_text('1'); print('dying', flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)\n"
            "pathlib.Path(sys.argv[2], 'out.txt').write_text('ok')")


def one_step(code, policies=None):
    step = processing("Flaky", {"Get": "Parameters.Source"}, code=code)
    if policies is not None:
        step["RetryPolicies"] = policies
    return {"Version": "2020-12-01",
            "Parameters": [{"Name": "Source", "Type": "String", "DefaultValue": "s3://bkt/data"}], "Steps": [step]}


INTERNAL = [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 0, "BackoffRate": 2.0,
             "MaxAttempts": 1}]


def test_an_instance_failure_is_retried_by_its_policy(engine, tmp_path):
    record = engine.start(one_step(killed_once(tmp_path), INTERNAL), "P")
    step = record.step("Flaky")
    assert (record.status, step.status) == ("Succeeded", "Succeeded"), record.failure_reason
    assert step.summary.endswith("(attempt 2)")
    assert "dying" in (tmp_path / "runs" / "P" / record.execution_id / "Flaky.attempt-1" / "job.log").read_text()


def test_without_a_policy_an_instance_failure_fails_the_step_in_sagemakers_words(engine, tmp_path):
    record = engine.start(one_step(killed_once(tmp_path)), "P")
    assert record.step("Flaky").failure_reason.startswith("InternalServerError: processing job ")
    assert record.step("Flaky").failure_reason.endswith("was killed by SIGKILL")


def test_the_codes_own_error_is_never_retried(engine):
    record = engine.start(one_step(FAIL, INTERNAL), "P")
    assert record.step("Flaky").failure_reason.startswith("AlgorithmError: ")
    assert "attempt" not in record.step("Flaky").summary


def test_policies_sagemaker_refuses_stop_the_execution_before_anything_runs(engine):
    bad = [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 21, "ExpireAfterMin": 5}]
    with pytest.raises(InvalidInput, match=r"ValidationException \(CreatePipeline\): step Flaky: "
                                           r"RetryPolicies\[0\] needs exactly one of MaxAttempts"):
        engine.start(one_step(FAIL, bad), "P")
    assert not (engine.runs_dir / "P").exists()
    assert policy_errors("Lambda", INTERNAL) == [
        "a Lambda step takes no RetryPolicies (only Processing, Training, Tuning, Transform, Model, RegisterModel "
        "steps do)"]
    assert policy_errors("Model", INTERNAL)[0].startswith("RetryPolicies[0].ExceptionType 'SageMaker.JOB_INTERNAL_"
                                                         "ERROR' is not one of ['Step.SERVICE_FAULT'")
    assert "MaxAttempts must be 1 to 20, got 21" in policy_errors("Processing", [{**INTERNAL[0], "MaxAttempts": 21}])[0]


def test_retry_delays_back_off_and_stop_at_max_attempts_or_expiry():
    policy = [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 2, "BackoffRate": 3.0,
               "MaxAttempts": 3}]
    assert [retry_delay(policy, "SageMaker.JOB_INTERNAL_ERROR", n, 0) for n in (1, 2, 3, 4)] == [2, 6, 18, None]
    assert retry_delay(policy, "SageMaker.CAPACITY_ERROR", 1, 0) is None and retry_delay(policy, None, 1, 0) is None
    expiring = [{**policy[0], "MaxAttempts": None, "ExpireAfterMin": 1}]
    del expiring[0]["MaxAttempts"]
    assert retry_delay(expiring, "SageMaker.JOB_INTERNAL_ERROR", 1, 50) == 2
    assert retry_delay(expiring, "SageMaker.JOB_INTERNAL_ERROR", 2, 55) is None  # 55 s + 6 s passes the minute


def test_sdk_rendered_retry_policies_are_accepted():
    from sagemaker.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )

    rendered = [StepRetryPolicy([StepExceptionTypeEnum.THROTTLING], max_attempts=5).to_request(),
                SageMakerJobStepRetryPolicy([SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                                            expire_after_mins=30).to_request()]
    assert policy_errors("Training", rendered) == []

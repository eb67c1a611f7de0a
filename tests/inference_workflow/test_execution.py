"""The handlers inside moto-executed state machines, with the classifier calling a real local endpoint."""

import json
import time

import pytest

from inference_workflow.workflow_config import WorkflowConfig
from lambdas._events import EndpointUnavailableError
from scones.workflow.runtime import EndpointTarget, LocalWorkflowRunner, workflow_handlers
from tests import support

FAST_RETRY = WorkflowConfig(retry_interval_seconds=1, retry_max_attempts=2, retry_backoff_rate=1.0)


def _target(url, threshold=0.5):
    return EndpointTarget(url, "scones-endpoint", ("bicycle", "motorcycle"), threshold)


@pytest.fixture
def world(endpoint):
    server, _, _ = endpoint
    with LocalWorkflowRunner(workflow_handlers(FAST_RETRY, _target(server.url)), FAST_RETRY) as runner:
        runner.put_image("good.png", support.random_png(seed=1))
        yield runner


def test_success_path_returns_probabilities_as_a_list(world):
    result = world.classify_one("good.png")
    assert result.status == "passed" and result.label in ("bicycle", "motorcycle")
    assert len(result.inferences) == 2 and result.confidence == max(result.inferences)
    assert world.review_messages() == []


def test_low_confidence_is_caught_published_to_sns_and_fails(world, endpoint):
    world.lambdas.handlers.update(workflow_handlers(FAST_RETRY, _target(endpoint[0].url, threshold=0.99999)))
    described = world.execute(world.machine(False), {"s3_bucket": "scones-workflow-local", "s3_key": "good.png"})
    assert described["status"] == "FAILED"
    assert described["error"] == "LowConfidenceError"
    assert "below the threshold 0.99999" in json.loads(described["cause"])["errorMessage"]
    messages = world.review_messages()
    assert len(messages) == 1 and messages[0]["Error"] == "LowConfidenceError"


def _unavailable_once(runner) -> list:
    """The classifier's first call fails as an endpoint warming up does; returns the record of its calls."""
    calls, real = [], runner.lambdas.handlers["scones-classifier"]

    def flaky(event, context=None):
        calls.append(1)
        if len(calls) == 1:
            raise EndpointUnavailableError("endpoint warming up")
        return real(event, context)

    runner.lambdas.handlers["scones-classifier"] = flaky
    return calls


def test_transient_endpoint_error_is_retried(world):
    calls = _unavailable_once(world)
    assert world.classify_one("good.png").status == "passed"
    assert len(calls) == 2


def test_endpoint_down_is_retried_then_caught_never_hangs(world):
    # nothing listens on the discard port
    world.lambdas.handlers.update(workflow_handlers(FAST_RETRY, _target("http://127.0.0.1:9")))
    result = world.classify_one("good.png")
    assert result.status == "review" and result.error == "EndpointUnavailableError"
    assert world.lambdas.calls["scones-classifier"] == 3, "one try plus MaxAttempts (2) retries"


@pytest.mark.parametrize("key, body, error", [
    ("missing.png", None, "ImageNotFoundError"),
    ("empty.png", b"", "EmptyImageError"),
    ("text.png", b"not an image", "InvalidImageError"),
    ("trunc.png", support.truncated_png(), "InvalidImageError"),
])
def test_bad_inputs_end_in_review_with_a_clear_error(world, key, body, error):
    if body is not None:
        world.put_image(key, body)
    result = world.classify_one(key)
    assert (result.status, result.error) == ("review", error)
    assert result.cause


def test_malformed_event_fails_clearly(world):
    described = world.execute(world.machine(False), {"bucket": "nope"})
    assert described["error"] == "InvalidEventError"
    assert "lacks s3_bucket and s3_key" in json.loads(described["cause"])["errorMessage"]


def test_batch_map_keeps_going_past_bad_images(world):
    world.put_image("bad.png", b"garbage")
    results = world.classify_batch(["good.png", "bad.png", "good.png"])
    assert [r.status for r in results] == ["passed", "review", "passed"]
    assert results[1].error == "InvalidImageError"
    assert len(world.review_messages()) == 1


STARTER = {
    "Comment": "The Udacity starter's style: Payload.$ is the whole state, OutputPath picks the Payload",
    "StartAt": "serializeImageData",
    "States": {
        "serializeImageData": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                               "OutputPath": "$.Payload",
                               "Parameters": {"Payload.$": "$", "FunctionName": "serializeImageData:$LATEST"},
                               "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                                                          "Lambda.SdkClientException",
                                                          "Lambda.TooManyRequestsException"],
                                          "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}],
                               "Next": "classifier"},
        "classifier": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
                       "Parameters": {"Payload.$": "$", "FunctionName": "imageClassifier:$LATEST"},
                       "Next": "stringify"},
        "stringify": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"Payload.$": "$", "FunctionName": "starterStyleBody"}, "Next": "filter"},
        "filter": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "InputPath": "$.Payload",
                   "OutputPath": "$.Payload",
                   "Parameters": {"Payload.$": "$", "FunctionName": "filterLowConfidence:$LATEST"}, "End": True},
    },
}


def test_a_starter_style_state_machine_runs_these_handlers(world):
    ours = world.lambdas.handlers
    def starter_body(event, context=None):
        """What the starter's classifier returns: body as a JSON string, inferences as a string."""
        body = event["body"]
        return {"statusCode": 200, "body": json.dumps({**body, "inferences": json.dumps(body["inferences"])})}

    ours.update({"serializeImageData": ours["scones-serialize-image-data"],
                 "imageClassifier": ours["scones-classifier"], "starterStyleBody": starter_body,
                 "filterLowConfidence": ours["scones-filter-low-confidence"]})
    arn = world.create_machine(False, definition=STARTER, name="starter")
    described = world.execute(arn, {"image_data": "", "s3_bucket": "scones-workflow-local", "s3_key": "good.png"})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["statusCode"] == 200 and len(output["body"]["inferences"]) == 2


def test_sdk_workflow_create_and_execute_against_moto(world):
    """`scones workflow create|execute` use the SDK's Workflow with an explicit client."""
    import boto3

    from inference_workflow.workflow import workflow

    flow = workflow("sdk-made", "arn:aws:iam::123456789012:role/sfn", world.config,
                    client=boto3.client("stepfunctions", region_name="us-east-1"))
    arn = flow.create()
    assert arn.endswith(":stateMachine:sdk-made")
    described = world.execute(arn, {"s3_bucket": "scones-workflow-local", "s3_key": "good.png"})
    assert described["status"] == "SUCCEEDED"


def test_workflow_cli_create_update_execute_against_moto(world, capsys):
    from scones import cli

    common = ["--role-arn", "arn:aws:iam::123456789012:role/sfn", "--topic-arn", world.config.review_topic_arn,
              "--name", "cli-made"]
    assert cli.main(["workflow", "create", *common]) == 0
    arn = capsys.readouterr().out.split("state machine created: ")[1].strip()
    assert cli.main(["workflow", "update", *common, "--retry-attempts", "5"]) == 0
    machine = world.clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
    assert json.loads(machine["definition"])["States"]["ClassifyImage"]["Retry"][0]["MaxAttempts"] == 5
    capsys.readouterr()
    payload = json.dumps({"s3_bucket": "scones-workflow-local", "s3_key": "good.png"})
    assert cli.main(["workflow", "execute", "--state-machine-arn", arn, "--input", payload]) == 0
    assert '"status": "SUCCEEDED"' in capsys.readouterr().out


def test_a_definition_is_parsed_once_for_its_machine_and_all_its_executions(endpoint, monkeypatch):
    """moto parses a definition with ANTLR at creation and again per execution; the runner parses it once, and
    the parsed program keeps no state between executions (a retried one, then a plain one, answer alike)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    server, _, _ = endpoint
    real, parsed = AmazonStateLanguageParser.__dict__["parse"].__func__, []
    monkeypatch.setattr(AmazonStateLanguageParser, "parse",
                        staticmethod(lambda definition: (parsed.append(len(definition)), real(definition))[1]))
    with LocalWorkflowRunner(workflow_handlers(FAST_RETRY, _target(server.url)), FAST_RETRY) as runner:
        runner.put_image("good.png", support.random_png(seed=1))
        flaky = _unavailable_once(runner)
        results = [runner.classify_one("good.png") for _ in range(3)]
    assert len(parsed) == 1, "created and executed three times, parsed once"
    assert len(flaky) == 4, "the first execution retried once; the retry counter did not carry over"
    assert len({(r.status, r.label, r.inferences) for r in results}) == 1 and results[0].status == "passed"


def test_an_execution_is_read_once_moto_has_recorded_all_of_its_end(world, monkeypatch):
    """moto sets an execution's status before its output; the runner waits for the whole record."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    real = BaseExecutionWorkerCommunication._reflect_execution_status

    def status_first(self):  # widen moto's window between the status and the output
        real(self)
        output, self.execution.output = self.execution.output, None
        time.sleep(0.3)
        self.execution.output = output

    monkeypatch.setattr(BaseExecutionWorkerCommunication, "_reflect_execution_status", status_first)
    result = world.classify_one("good.png")
    assert result.status == "passed" and len(result.inferences) == 2


def test_executions_leave_no_finished_threads_in_motos_list(world):
    """moto keeps every thread its interpreter starts in a module list; the runner prunes the finished ones."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    world.classify_one("good.png")
    after_one = len(TMP_THREADS)
    world.classify_batch(["good.png"] * 20)
    for _ in range(3):
        world.classify_one("good.png")
    assert len(TMP_THREADS) <= after_one + 2, len(TMP_THREADS)


def test_an_execution_is_answered_as_describe_execution_answers_it(world):
    """The runner reads moto's backend directly (no boto3 round trip); its answer is DescribeExecution's."""
    described = world.execute(world.machine(False), {"s3_bucket": "scones-workflow-local", "s3_key": "good.png"})
    through_api = world.clients["stepfunctions"].describe_execution(executionArn=described["executionArn"])
    for field in ("executionArn", "stateMachineArn", "name", "status", "input", "output"):
        assert described[field] == through_api[field], field
    assert type(described["status"]) is str


def test_an_execution_past_its_timeout_is_stopped_and_said(world):
    arn = world.create_machine(False, {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 3,
                                                                               "End": True}}}, name="sleeper")
    with pytest.raises(TimeoutError, match="still running after 0 s"):
        world.execute(arn, {}, timeout=0.2)
    listed = world.clients["stepfunctions"].list_executions
    deadline = time.monotonic() + 2.5  # moto's stop is asynchronous: the worker notices within its Wait
    while listed(stateMachineArn=arn)["executions"][0]["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["status"] for e in listed(stateMachineArn=arn)["executions"]] == ["ABORTED"]

"""`scones infra review-flow`: the A2I task UI and flow definition CloudFormation cannot make. moto has no
A2I: a botocore Stubber on a real SageMaker client checks each request against AWS's own model. The worker
template is rendered with Liquid, as A2I renders it, with stand-ins for A2I's two own filters."""

import json
from html.parser import HTMLParser

import boto3
import pytest
from botocore.stub import ANY, Stubber

from scones import cli
from scones.errors import Conflict
from scones.infra.review_flow import WORKER_TEMPLATE, ReviewFlow, set_up
from scones.review import ReviewItem
from scones.review.output import input_content

TEAM = "arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/scones"
ROLE = "arn:aws:iam::123456789012:role/scones-ReviewFlowRole-ABC"
UI_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:human-task-ui/scones-review-ui"
FLOW_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:flow-definition/scones-review"
FLOW = ReviewFlow("scones", TEAM, ROLE, "s3://bucket/scones/review")


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def _not_found(stubber, operation, **params):
    stubber.add_client_error(operation, "ResourceNotFound", "not found", 400, expected_params=params)


def test_a_first_run_makes_the_task_ui_and_a_custom_task_flow_with_output_under_review(sagemaker):
    client, stubber = sagemaker
    _not_found(stubber, "describe_human_task_ui", HumanTaskUiName="scones-review-ui")
    stubber.add_response("create_human_task_ui", {"HumanTaskUiArn": UI_ARN},
                         {"HumanTaskUiName": "scones-review-ui", "UiTemplate": {"Content": WORKER_TEMPLATE}})
    _not_found(stubber, "describe_flow_definition", FlowDefinitionName="scones-review")
    stubber.add_response("create_flow_definition", {"FlowDefinitionArn": FLOW_ARN}, {
        "FlowDefinitionName": "scones-review", "RoleArn": ROLE, "OutputConfig": {"S3OutputPath": FLOW.output_uri},
        "HumanLoopConfig": {"WorkteamArn": TEAM, "HumanTaskUiArn": UI_ARN, "TaskTitle": ANY,
                            "TaskDescription": ANY, "TaskCount": 1, "TaskTimeLimitInSeconds": 3600,
                            "TaskAvailabilityLifetimeInSeconds": 604800}})
    done = set_up(client, FLOW)
    stubber.assert_no_pending_responses()
    assert done == {"task_ui": {"arn": UI_ARN, "created": True}, "flow": {"arn": FLOW_ARN, "created": True},
                    "review_queue": f"a2i://{FLOW_ARN}"}
    from scones.infra.template import REVIEW_FLOW_ARN

    assert REVIEW_FLOW_ARN.endswith(f"flow-definition/${{ProjectName}}-{FLOW_ARN.rsplit('-', 1)[-1]}"), \
        "the flow has the name the stack's review task points at"


def _existing_flow(stubber, **overrides):
    stubber.add_response("describe_human_task_ui", {
        "HumanTaskUiArn": UI_ARN, "HumanTaskUiName": "scones-review-ui", "CreationTime": "2026-12-01T00:00:00Z",
        "UiTemplate": {"Url": "https://example.com/t", "ContentSha256": "x"}}, {"HumanTaskUiName": "scones-review-ui"})
    config = {"WorkteamArn": TEAM, "HumanTaskUiArn": UI_ARN, "TaskTitle": "t", "TaskDescription": "d", "TaskCount": 1}
    stubber.add_response("describe_flow_definition", {
        "FlowDefinitionArn": FLOW_ARN, "FlowDefinitionName": "scones-review", "FlowDefinitionStatus": "Active",
        "CreationTime": "2026-12-01T00:00:00Z", "HumanLoopConfig": {**config, **overrides},
        "OutputConfig": {"S3OutputPath": FLOW.output_uri}, "RoleArn": ROLE}, {"FlowDefinitionName": "scones-review"})


def test_running_it_again_changes_nothing(sagemaker):
    client, stubber = sagemaker
    _existing_flow(stubber)
    done = set_up(client, FLOW)
    stubber.assert_no_pending_responses()  # no create call was made: the Stubber would have refused it
    assert not done["task_ui"]["created"] and not done["flow"]["created"]


def test_a_flow_with_another_workteam_is_refused_with_the_way_out(sagemaker):
    client, stubber = sagemaker
    _existing_flow(stubber, WorkteamArn=TEAM.replace("scones", "other"))
    with pytest.raises(Conflict, match="another workteam .*other.* delete-flow-definition"):
        set_up(client, FLOW)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_the_worker_sees_the_image_the_guesses_and_one_choice_per_class_plus_the_two_escapes():
    from liquid import Environment

    environment = Environment()
    environment.filters["to_json"] = json.dumps  # A2I's own filters, stood in for
    environment.filters["grant_read_access"] = lambda uri: f"https://presigned.example/{uri[len('s3://'):]}"
    item = ReviewItem(id="r-1", image="s3://bucket/scones/inputs/a.png", classes=("bicycle", "motor<cycle>"),
                      probabilities=(0.61, 0.39), model_version=3, reason="LowConfidenceError: 0.61 below 0.93")
    page = _Page()
    page.feed(environment.from_string(WORKER_TEMPLATE).render(task={"input": input_content(item)}))
    attributes = {tag: attrs for tag, attrs in page.tags}
    assert json.loads(attributes["crowd-classifier"]["categories"]) == [
        "bicycle", "motor<cycle>", "none of these", "can't tell"]
    assert attributes["crowd-classifier"]["name"] == "label", "answers as {'label': {'label': ...}}"
    assert attributes["img"]["src"] == "https://presigned.example/bucket/scones/inputs/a.png"
    text = " ".join(page.text)
    assert "bicycle: 61.0 %" in text and "motor<cycle>: 39.0 %" in text and "model v3" in text
    assert "0.61 below 0.93" in text


def test_the_command_refuses_an_output_that_is_not_s3_in_one_line(capsys):
    assert cli.main(["infra", "review-flow", "--workteam", TEAM, "--role-arn", ROLE, "--output", "/tmp/x"]) == 1
    assert "not an s3:// URI" in capsys.readouterr().err

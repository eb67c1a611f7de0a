"""The review queue on Amazon A2I. moto has no A2I (sagemaker-a2i-runtime): a botocore Stubber on a real
client checks every request against AWS's own service model, and answers as the service would."""

import dataclasses
import datetime as dt
import json

import boto3
import pytest
from botocore.stub import Stubber

from scones.errors import InvalidInput, NotFound, Unsupported
from scones.review import ANSWERED, PENDING, HumanAnswer, ReviewItem, item_id, open_review_queue
from scones.review.output import output_document
from scones.store import open_store

FLOW = "arn:aws:sagemaker:eu-west-1:123456789012:flow-definition/scones-review"


@pytest.fixture
def a2i(tmp_path):
    client = boto3.client("sagemaker-a2i-runtime", region_name="eu-west-1")
    store = open_store(f"file://{tmp_path}/store")
    asked = []
    queue = open_review_queue(f"a2i://{FLOW}", lambda service, region=None: asked.append((service, region)) or client,
                              store=store)
    with Stubber(client) as stubber:
        yield queue, stubber, store, asked


def _item() -> ReviewItem:
    return ReviewItem(id=item_id("arn:aws:states:eu-west-1:123456789012:execution:m:e", "s3://b/k.png"),
                      image="s3://b/k.png", classes=("bicycle", "motorcycle"), probabilities=(0.7, 0.3),
                      model_version=4, reason="LowConfidenceError: below", inference_id="inf-1")


def test_adding_starts_one_loop_named_by_the_item_and_a_retry_starts_none(a2i):
    queue, stubber, _, asked = a2i
    item = _item()
    expected = {"HumanLoopName": item.id, "FlowDefinitionArn": FLOW,
                "HumanLoopInput": {"InputContent": json.dumps({
                    "image": "s3://b/k.png", "classes": ["bicycle", "motorcycle"], "probabilities": [0.7, 0.3],
                    "model_version": 4, "reason": "LowConfidenceError: below", "inference_id": "inf-1",
                    "kind": "review", "choices": ["bicycle", "motorcycle", "none of these", "can't tell"],
                    "top_guesses": [{"label": "bicycle", "percent": "70.0"},
                                    {"label": "motorcycle", "percent": "30.0"}]})}}
    stubber.add_response("start_human_loop", {"HumanLoopArn": f"{FLOW}/loop"}, expected)
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409, expected_params=expected)
    assert queue.add(item).id == item.id
    assert queue.add(item).id == item.id, "a retried state is not an error"
    stubber.assert_no_pending_responses()
    assert asked == [("sagemaker-a2i-runtime", "eu-west-1")], "the client is for the flow's own region"


def test_a_finished_loop_is_read_back_from_its_output_with_the_answer(a2i):
    queue, stubber, store, _ = a2i
    item = _item()
    answered = dataclasses.replace(item, answers=(HumanAnswer("motorcycle", "worker-1", "", "t"),))
    output = "s3://bkt/review/scones-review/2026/12/01/10/00/00/" + item.id + "/output.json"
    store.put_bytes(output, json.dumps(output_document(answered, FLOW)).encode())
    created = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    stubber.add_response("list_human_loops", {"HumanLoopSummaries": [
        {"HumanLoopName": item.id, "HumanLoopStatus": "Completed", "CreationTime": created},
        {"HumanLoopName": "r-open", "HumanLoopStatus": "InProgress", "CreationTime": created}]},
        {"FlowDefinitionArn": FLOW, "SortOrder": "Ascending", "MaxResults": 100})
    stubber.add_response("describe_human_loop", {
        "CreationTime": created, "HumanLoopStatus": "Completed", "HumanLoopName": item.id,
        "HumanLoopArn": f"{FLOW}/x", "FlowDefinitionArn": FLOW, "HumanLoopOutput": {"OutputS3Uri": output}},
        {"HumanLoopName": item.id})
    done, open_ = queue.items()
    assert (done.status, done.answer, done.inference_id, done.model_version) == (ANSWERED, "motorcycle", "inf-1", 4)
    assert open_.id == "r-open" and open_.status == PENDING


def test_an_unknown_loop_is_not_found_and_answers_are_given_in_the_worker_portal(a2i):
    queue, stubber, _, _ = a2i
    stubber.add_client_error("describe_human_loop", "ResourceNotFoundException", "no loop", 404,
                             expected_params={"HumanLoopName": "r-nope"})
    with pytest.raises(NotFound, match="no review item 'r-nope'"):
        queue.get("r-nope")
    with pytest.raises(Unsupported, match="worker portal"):
        queue._add_answer(_item(), None)


def test_a_flow_uri_that_is_not_a_flow_definition_is_refused():
    with pytest.raises(InvalidInput, match="expected a2i://arn:aws:sagemaker"):
        open_review_queue("a2i://arn:aws:sns:us-east-1:1:topic", lambda service, region=None: None)


def test_the_lambda_zip_carries_the_backend_the_template_points_the_review_task_at():
    from scones.backends import backend_for
    from scones.infra.package import BY_NAME
    from scones.infra.template import SETTING_SOURCES

    scheme_uri = SETTING_SOURCES["REVIEW_QUEUE"]["Fn::Sub"]
    assert backend_for("review", scheme_uri).target.split(":")[0] in BY_NAME

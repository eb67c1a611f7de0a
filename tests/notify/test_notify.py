"""Notifications: the local outbox and SNS (against moto), with the messages approvers read."""

import json

import boto3
import pytest
from moto import mock_aws

from lambdas import notify_registration
from scones.errors import InvalidInput
from scones.notify import LocalOutbox, SnsNotifier, messages, open_notifier
from scones.registry import state_change_event
from scones.registry.local import SqliteRegistry


def _metrics(accuracy):
    return {"multiclass_classification_metrics": {"accuracy": {"value": accuracy}, "weighted_f1": {"value": 0.5}}}


@pytest.fixture
def registry(tmp_path):
    registry = SqliteRegistry(tmp_path / "r.db")
    registry.register("G", "s3://bkt/v1.tar.gz", "img", _metrics(0.91))
    registry.approve("G", 1)
    registry.register("G", "s3://bkt/v2.tar.gz", "img", _metrics(0.95))
    return registry


def test_registration_message_puts_both_models_side_by_side(registry):
    subject, message = messages.registration(registry, registry.get_version("G", 2))
    assert subject == "G v2 registered (PendingManualApproval): accuracy 0.9500 vs approved v1 0.9100 (+0.0400)"
    assert (message["new"]["accuracy"], message["approved"]["accuracy"]) == (0.95, 0.91)
    assert message["approve_with"].startswith("scones registry approve 2 --reason")
    assert message["comparison"]["metrics"][0] == {"name": "accuracy", "candidate": 0.95, "live": 0.91,
                                                   "delta": pytest.approx(0.04), "better": True}


def test_outbox_appends_json_lines(tmp_path, capsys):
    outbox = LocalOutbox(tmp_path / "outbox.jsonl")
    outbox.send("deployment", "e: v2 deployed", {"version": 2})
    outbox.send("human_review", "review", {"image": "x.png"})
    assert [r["kind"] for r in outbox.read()] == ["deployment", "human_review"]
    assert "[notification] e: v2 deployed" in capsys.readouterr().err


def test_sns_notification_on_registration_against_moto(registry):
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="approvers")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        event = state_change_event(registry.get_version("G", 2))
        result = notify_registration.notify(event, registry, SnsNotifier(topic, sns))
        assert "accuracy 0.9500 vs approved v1 0.9100" in result["notified"]
        envelope = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
        body = json.loads(envelope["Message"])
        assert body["kind"] == "model_registered"
        assert (body["new"]["accuracy"], body["approved"]["accuracy"]) == (0.95, 0.91)
        assert envelope["Subject"].startswith("G v2 registered")


def test_unknown_notifier_uri_is_refused():
    with pytest.raises(InvalidInput, match="unknown notifier .*outbox:///path/outbox.jsonl, sns://"):
        open_notifier("smtp://x")

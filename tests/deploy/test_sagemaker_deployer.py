"""The deployer Lambda against moto: create, update (Stubber: moto lacks UpdateEndpoint), rollback, duplicates."""

import contextlib
import copy
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from lambdas import deploy_model
from lambdas._runtime import CLIENTS
from scones.errors import InvalidInput
from scones.registry import state_change_event
from scones.registry.sagemaker import SageMakerRegistry

ROLE = "arn:aws:iam::123456789012:role/SconesEndpointRole"
ENV = {"ENDPOINT_NAME": "scones-prod", "EXECUTION_ROLE_ARN": ROLE, "CAPTURE_S3_URI": "s3://bkt/datacapture",
       "MODEL_PACKAGE_GROUP": "SconesModels", "ROLLBACK_ALARMS": "scones-prod-5xx",
       "KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}


@pytest.fixture
def aws(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients = {name: boto3.client(name, region_name="us-east-1")
                   for name in ("sagemaker", "application-autoscaling", "s3")}
        for name, client in clients.items():  # what the Lambda's handler gets from clients(service)
            monkeypatch.setitem(CLIENTS.made, name, client)
        registry = SageMakerRegistry(clients["sagemaker"], clients["s3"])
        for i in (1, 2):
            registry.register("SconesModels", f"s3://bkt/m{i}/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
        yield clients, registry


def _approve(registry, version):
    return state_change_event(registry.approve("SconesModels", version))


def _live_model_package(sagemaker):
    config = sagemaker.describe_endpoint(EndpointName="scones-prod")["EndpointConfigName"]
    model = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
    return sagemaker.describe_model(ModelName=model)["PrimaryContainer"]["ModelPackageName"]


def test_first_approval_creates_model_config_with_capture_endpoint_and_autoscaling(aws):
    clients, registry = aws
    decision = deploy_model.handler(_approve(registry, 1))
    assert decision == {"action": "deployed", "version": 1, "reason": "approved"}
    sagemaker = clients["sagemaker"]
    assert sagemaker.describe_endpoint(EndpointName="scones-prod")["EndpointStatus"] == "InService"
    assert _live_model_package(sagemaker) == registry.get_version("SconesModels", 1).arn
    config = sagemaker.describe_endpoint_config(EndpointConfigName="scones-prod-v1-config")
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] and capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == "s3://bkt/datacapture"
    assert capture["KmsKeyId"] == config["KmsKeyId"] == ENV["KMS_KEY_ID"], "capture and volumes encrypted"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    autoscaling = clients["application-autoscaling"]
    target = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/scones-prod/variant/AllTraffic", 1, 3)
    policy = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 25.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (180, 300)


def test_duplicate_event_is_a_no_op(aws):
    clients, registry = aws
    event = _approve(registry, 1)
    deploy_model.handler(event)
    configs = clients["sagemaker"].list_endpoint_configs()["EndpointConfigs"]
    assert deploy_model.handler(copy.deepcopy(event))["action"] == "already_live"
    assert clients["sagemaker"].list_endpoint_configs()["EndpointConfigs"] == configs


def _stub_update(monkeypatch, sagemaker, config_name):
    """UpdateEndpoint through botocore's Stubber; every other call still goes to moto."""
    stubbed = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(stubbed)
    stubber.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"},
                         {"EndpointName": "scones-prod", "EndpointConfigName": config_name,
                          "RetainAllVariantProperties": False, "DeploymentConfig": ANY})
    stubber.activate()
    monkeypatch.setattr(sagemaker, "update_endpoint", stubbed.update_endpoint)
    return stubber


def test_second_approval_updates_in_place_blue_green_with_auto_rollback(aws, monkeypatch):
    clients, registry = aws
    sagemaker = clients["sagemaker"]
    deploy_model.handler(_approve(registry, 1))
    stubber = _stub_update(monkeypatch, sagemaker, "scones-prod-v2-config")
    calls = []
    real = sagemaker.update_endpoint
    monkeypatch.setattr(sagemaker, "update_endpoint", lambda **kw: (calls.append(kw), real(**kw))[1])
    assert deploy_model.handler(_approve(registry, 2))["action"] == "deployed"
    stubber.assert_no_pending_responses()
    deployment = calls[0]["DeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert deployment["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "scones-prod-5xx"}]}
    model = sagemaker.describe_model(ModelName="scones-prod-v2")["PrimaryContainer"]["ModelPackageName"]
    assert model == registry.get_version("SconesModels", 2).arn


def test_rejecting_the_live_version_rolls_back_to_the_previous_approved(aws, monkeypatch):
    clients, registry = aws
    deploy_model.handler(_approve(registry, 1))
    registry.approve("SconesModels", 2)
    # moto cannot update endpoints; make v2 the live one the way a create would
    sagemaker = clients["sagemaker"]
    sagemaker.delete_endpoint(EndpointName="scones-prod")
    assert deploy_model.handler(state_change_event(registry.get_version("SconesModels", 2)))["action"] == "deployed"
    stubber = _stub_update(monkeypatch, sagemaker, "scones-prod-v1-config")
    decision = deploy_model.handler(state_change_event(registry.reject("SconesModels", 2, "bad")))
    assert decision == {"action": "rolled_back", "version": 1, "reason": "version 2 rejected"}
    stubber.assert_no_pending_responses()


def test_rejecting_a_version_that_is_not_live_changes_nothing(aws):
    clients, registry = aws
    deploy_model.handler(_approve(registry, 1))
    assert deploy_model.handler(state_change_event(registry.reject("SconesModels", 2)))["action"] == "ignored"
    assert _live_model_package(clients["sagemaker"]).endswith("/1")


def test_pending_and_other_groups_are_ignored(aws):
    _, registry = aws
    pending = state_change_event(registry.get_version("SconesModels", 2))
    assert deploy_model.handler(pending)["action"] == "ignored"
    other = copy.deepcopy(pending)
    other["detail"]["ModelPackageGroupName"] = "SomeoneElse"
    assert deploy_model.handler(other)["reason"] == "group SomeoneElse is not SconesModels"


@pytest.mark.parametrize("event, message", [
    ("not a dict", "must be a JSON object"),
    ({"detail-type": "EC2 Instance State-change Notification"}, "not a model package state change"),
    ({"detail-type": "SageMaker Model Package State Change", "detail": {}}, "lacks"),
    ({"detail-type": "SageMaker Model Package State Change",
      "detail": {"ModelPackageGroupName": "SconesModels", "ModelPackageVersion": "x", "ModelApprovalStatus": "A"}},
     "not a number"),
])
def test_malformed_events_are_refused_with_a_clear_error(aws, event, message):
    with pytest.raises(InvalidInput, match=message):
        deploy_model.handler(event)


def test_unknown_version_is_a_clear_error(aws):
    from scones.errors import NotFound

    _, registry = aws
    event = _approve(registry, 1)
    event["detail"]["ModelPackageVersion"] = 42
    with pytest.raises(NotFound, match="no version 42"):
        deploy_model.handler(event)


def _sqs_subscriber(clients_region="us-east-1"):
    """An SNS topic with an SQS queue subscribed (raw delivery off: the queue gets SNS envelopes)."""
    import json

    sns, sqs = boto3.client("sns", region_name=clients_region), boto3.client("sqs", region_name=clients_region)
    topic = sns.create_topic(Name="scones-notify")["TopicArn"]
    queue = sqs.create_queue(QueueName="approvers")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return topic, received


@contextlib.contextmanager
def _lambdas_as_aws_builds_them(monkeypatch):
    """moto, the functions' settings and clients as in AWS, a topic with an SQS subscriber: (received, registry)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        topic, received = _sqs_subscriber()
        monkeypatch.setenv("NOTIFY_TOPIC_ARN", topic)
        for name in ("sagemaker", "application-autoscaling", "s3", "sns"):
            monkeypatch.setitem(CLIENTS.made, name, boto3.client(name, region_name="us-east-1"))
        yield received, SageMakerRegistry(CLIENTS("sagemaker"), CLIENTS("s3"))


def test_deployer_lambda_with_notify_topic_tells_an_sqs_subscriber(monkeypatch):
    """The Lambda as AWS builds it (NOTIFY_TOPIC_ARN set, nothing injected but the clients): SNS reaches SQS."""
    with _lambdas_as_aws_builds_them(monkeypatch) as (received, registry):
        registry.register("SconesModels", "s3://bkt/m1/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
        assert deploy_model.handler(_approve(registry, 1))["action"] == "deployed"
        [envelope] = received()
    assert envelope["Subject"] == "scones-prod: v1 deployed"
    assert '"action": "deployed"' in envelope["Message"]


def test_registration_notifier_lambda_on_the_sagemaker_registry(monkeypatch):
    """notify_registration against the SageMaker registry (moto), as in AWS: the approvers' queue gets it."""
    from lambdas import notify_registration

    with mock_aws():
        topic, received = _sqs_subscriber()
        monkeypatch.setenv("NOTIFY_TOPIC_ARN", topic)
        registry = SageMakerRegistry(boto3.client("sagemaker", region_name="us-east-1"),
                                     boto3.client("s3", region_name="us-east-1"))
        version = registry.register("SconesModels", "s3://bkt/m1/model.tar.gz", "img")
        for name in ("sagemaker", "s3", "sns"):
            monkeypatch.setitem(CLIENTS.made, name, boto3.client(name, region_name="us-east-1"))
        result = notify_registration.handler(state_change_event(version))  # builds its own SageMaker registry
        [envelope] = received()
    assert result["notified"].startswith("SconesModels v1 registered (PendingManualApproval)")
    assert envelope["Subject"] == result["notified"]


def test_the_registration_notice_compares_with_what_serves_not_an_approved_version_that_never_did(monkeypatch):
    """Issue 29: v2 approved but never deployed (its deploy failed) while v1 serves: v3's notice is against v1."""
    from lambdas import notify_registration

    with _lambdas_as_aws_builds_them(monkeypatch) as (received, registry):
        registry.register("SconesModels", "s3://bkt/m1/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
        assert deploy_model.handler(_approve(registry, 1))["action"] == "deployed"
        registry.register("SconesModels", "s3://bkt/m2/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
        registry.approve("SconesModels", 2, "approved; its deployment failed")  # no deploy: v1 still serves
        v3 = registry.register("SconesModels", "s3://bkt/m3/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
        result = notify_registration.handler(state_change_event(v3))
        message = json.loads(received()[-1]["Message"])
    assert "vs live v1" in result["notified"] or "no accuracy recorded" in result["notified"], result
    assert message["compared_with"] == "live" and message["approved"]["version"] == 1

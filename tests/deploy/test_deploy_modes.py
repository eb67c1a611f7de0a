"""Deployment modes: the settings' rules, and the AWS deployer's calls for each mode on moto (Stubber where moto
lacks the operation, which validates each request against botocore's model)."""

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from scones.deploy import Deployer
from scones.deploy.modes import CANARY, LINEAR, DeploymentMode, Layout, Rollout, parse_split
from scones.deploy.sagemaker import EndpointSettings, SageMakerEndpointBackend
from scones.errors import InvalidInput
from scones.registry import state_change_event
from scones.registry.sagemaker import SageMakerRegistry

ROLE = "arn:aws:iam::123456789012:role/SconesEndpointRole"


@pytest.mark.parametrize("text, kind, percent, wait, steps", [
    ("all-at-once", "ALL_AT_ONCE", 100, 300, [1.0]),
    ("canary 10% 5m", CANARY, 10, 300, [0.1, 1.0]),
    ("linear 30% 60s", LINEAR, 30, 60, [0.3, 0.6, 0.9, 1.0]),
    ("LINEAR 50% 0", LINEAR, 50, 0, [0.5, 1.0]),
])
def test_rollouts_parse_into_steps_of_traffic(text, kind, percent, wait, steps):
    rollout = Rollout.parse(text)
    assert (rollout.kind, rollout.percent, rollout.wait_seconds) == (kind, percent, wait)
    assert rollout.steps() == pytest.approx(steps)
    assert Rollout.parse(str(rollout)) == rollout, "printed as it is written"


@pytest.mark.parametrize("text, message", [
    ("canary 60% 5m", "canary step of 60% is refused by SageMaker: it takes 1-50%"),
    ("linear 5% 1m", "linear step of 5% is refused by SageMaker: it takes 10-50%"),
    ("canary 10% 2h", "wait of 7200 s is refused by SageMaker: it takes 0-3600 s"),
    ("canary 10%", "is not one of"),
    ("blue-green", "is not one of"),
    ("canary ten% 5m", "not a whole percentage"),
    ("canary 10% soon", "not a duration"),
])
def test_rollouts_sagemaker_refuses_are_refused_by_name(text, message):
    with pytest.raises(InvalidInput, match=message):
        Rollout.parse(text)


def test_serverless_refuses_shadows_splits_and_endpoint_capture_naming_each():
    mode = DeploymentMode.parse("serverless")
    with pytest.raises(InvalidInput) as caught:
        mode.check(Layout.split({3: 90, 4: 10}, Layout.shadow_of(5)), endpoint_capture=True)
    message = str(caught.value)
    assert "shadow variants" in message and "more than one production variant" in message
    assert "data capture on the endpoint" in message
    mode.check(Layout.single(3))  # one variant: fine
    DeploymentMode.parse("realtime").check(Layout.split({3: 90, 4: 10}, Layout.shadow_of(5)), endpoint_capture=True)
    with pytest.raises(InvalidInput, match="1024, 2048"):
        DeploymentMode.parse("serverless", memory_mb=1500)
    with pytest.raises(InvalidInput, match="1-200"):
        DeploymentMode.parse("serverless", max_concurrency=0)
    with pytest.raises(InvalidInput, match="not realtime or serverless"):
        DeploymentMode.parse("lambda")


def test_splits_parse_and_refuse_what_would_never_be_served():
    assert parse_split(["3=90", "v4=10"]) == {3: 90.0, 4: 10.0}
    layout = Layout.split(parse_split(["3=90", "4=10"]))
    assert layout.shares() == {"v3": 0.9, "v4": 0.1}
    assert Layout.from_dict(layout.to_dict()) == layout
    for bad, message in ((["3=90"], "two or more"), (["3=90", "4=0"], "above 0"), (["3:90", "4=1"], "VERSION=WEIGHT")):
        with pytest.raises(InvalidInput, match=message):
            Layout.split(parse_split(bad))


@pytest.fixture
def aws():
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        registry = SageMakerRegistry(sagemaker, boto3.client("s3", region_name="us-east-1"))
        for i in (1, 2, 3):
            registry.register("SconesModels", f"s3://bkt/m{i}/model.tar.gz", "pytorch-inference:2.6.0-cpu-py312")
            registry.approve("SconesModels", i) if i < 3 else None
        autoscaling = boto3.client("application-autoscaling", region_name="us-east-1")
        yield sagemaker, autoscaling, registry


def _backend(aws, mode: DeploymentMode) -> SageMakerEndpointBackend:
    sagemaker, autoscaling, registry = aws
    settings = EndpointSettings("scones-prod", ROLE, "s3://bkt/datacapture", mode=mode)
    return SageMakerEndpointBackend(settings, registry, sagemaker, autoscaling)


def _config(sagemaker, name="scones-prod"):
    return sagemaker.describe_endpoint_config(
        EndpointConfigName=sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"])


def test_serverless_endpoint_has_a_serverless_variant_no_capture_and_no_autoscaling(aws):
    sagemaker, autoscaling, registry = aws
    backend = _backend(aws, DeploymentMode.parse("serverless", memory_mb=3072, max_concurrency=5))
    decision = Deployer(registry, backend).handle(state_change_event(registry.get_version("SconesModels", 1)))
    assert decision.action == "deployed", decision
    config = _config(sagemaker)
    [variant] = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    assert "InstanceType" not in variant and not config.get("DataCaptureConfig"), "moto answers {} when none was sent"
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert backend.live_version().version == 1


def test_realtime_endpoint_keeps_instances_capture_and_autoscaling(aws):
    sagemaker, autoscaling, registry = aws
    backend = _backend(aws, DeploymentMode())
    Deployer(registry, backend).handle(state_change_event(registry.get_version("SconesModels", 1)))
    config = _config(sagemaker)
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert config["DataCaptureConfig"]["EnableCapture"]
    assert len(autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == 1


def _stubbed_update(monkeypatch, sagemaker, expected: dict):
    """UpdateEndpoint through botocore's Stubber (moto lacks it): the request is checked against AWS's model."""
    stubbed = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(stubbed)
    stubber.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"},
                         {"EndpointName": "scones-prod", "EndpointConfigName": ANY, "RetainAllVariantProperties": False,
                          **expected})
    stubber.activate()
    monkeypatch.setattr(sagemaker, "update_endpoint", stubbed.update_endpoint)
    return stubber


def test_a_canary_rollout_is_the_updates_traffic_routing_with_the_alarms(aws, monkeypatch):
    sagemaker, _, registry = aws
    backend = _backend(aws, DeploymentMode.parse(rollout="canary 10% 10m"))
    deployer = Deployer(registry, backend)
    deployer.handle(state_change_event(registry.get_version("SconesModels", 1)))
    stubber = _stubbed_update(monkeypatch, sagemaker, {"DeploymentConfig": {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
            "TerminationWaitInSeconds": 300, "MaximumExecutionTimeoutInSeconds": 3600},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "scones-prod-invocation-5xx-errors"}]}}})
    assert deployer.handle(state_change_event(registry.get_version("SconesModels", 2))).action == "deployed"
    stubber.assert_no_pending_responses()


def test_a_split_and_a_shadow_become_one_endpoint_configuration(aws, monkeypatch):
    sagemaker, _, registry = aws
    backend = _backend(aws, DeploymentMode())
    Deployer(registry, backend).handle(state_change_event(registry.get_version("SconesModels", 1)))
    stubber = _stubbed_update(monkeypatch, sagemaker, {})
    sent, create = [], sagemaker.create_endpoint_config
    monkeypatch.setattr(sagemaker, "create_endpoint_config", lambda **kw: (sent.append(kw), create(**kw))[1])
    name = backend.apply_layout(Layout.split({1: 90, 2: 10}, Layout.shadow_of(3)))
    stubber.assert_no_pending_responses()
    config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in config["ProductionVariants"]] == [
        ("v1", 90.0), ("v2", 10.0)]
    # moto stores no shadow variants: the request itself (botocore validated it against AWS's model) says it
    [shadow] = sent[0]["ShadowProductionVariants"]
    assert shadow["VariantName"] == "shadow-v3" and shadow["InstanceType"] == "ml.m5.large"
    model = sagemaker.describe_model(ModelName=shadow["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == registry.get_version("SconesModels", 3).arn, \
        "a pending version can shadow: that is the point of shadowing before approval"
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    _stubbed_update(monkeypatch, sagemaker, {})
    assert backend.apply_layout(Layout.split({1: 90, 2: 10}, Layout.shadow_of(3))) == name, "same layout, same config"
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == configs and len(sent) == 1


def test_a_serverless_endpoint_refuses_a_shadow_before_any_call(aws):
    sagemaker, _, registry = aws
    backend = _backend(aws, DeploymentMode.parse("serverless"))
    Deployer(registry, backend).handle(state_change_event(registry.get_version("SconesModels", 1)))
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    with pytest.raises(InvalidInput, match="serverless endpoint does not support shadow variants"):
        backend.apply_layout(Layout.single(1, Layout.shadow_of(3)))
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == configs


def test_the_local_alarm_watch_evaluates_the_templates_rules_as_cloudwatch_does():
    """2 of 3 one-minute datapoints at or above the threshold; a period without requests does not breach."""
    from scones.deploy.alarms import ROLLBACK_ALARMS, AlarmWatch
    from scones.infra.template import build_template

    now = [0.0]
    watch = AlarmWatch(clock=lambda: now[0])
    watch.observe(500, 1000)  # one 5xx in minute 0: one breaching datapoint is not enough
    assert watch.firing() is None
    now[0] = 61
    watch.observe(200, 1000)  # minute 1: no error
    now[0] = 125
    watch.observe(503, 1000)  # minute 2: 2 of the last 3 breach
    rule, points = watch.firing()
    assert rule.metric == "Invocation5XXErrors" and points == [1.0, 0.0, 1.0]
    now[0] = 300  # minutes 3-5 without requests: missing data, not breaching
    assert watch.firing() is None

    slow = AlarmWatch(latency_threshold_us=2000, clock=lambda: now[0])
    for minute in (0, 1):
        now[0] = 300 + 60 * minute
        for _ in range(99):
            slow.observe(200, 500)
        slow.observe(200, 5000)  # the slowest 1 %: p99 over the threshold in both minutes
    rule, _ = slow.firing()
    assert rule.metric == "ModelLatency" and rule.statistic == "p99"

    resources = build_template()["Resources"]
    for logical, rule in zip(("Endpoint5xxAlarm", "ModelLatencyAlarm"), ROLLBACK_ALARMS, strict=True):
        alarm = resources[logical]["Properties"]
        assert (alarm["MetricName"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"],
                alarm["TreatMissingData"]) == (rule.metric, rule.period, rule.evaluation_periods,
                                               rule.datapoints_to_alarm, "notBreaching"), "one definition for both"


def test_shadow_and_split_commands_update_a_sagemaker_endpoint_read_back_from_aws(aws, monkeypatch, capsys):
    """``--sagemaker NAME``: the backend's settings come from the endpoint itself (role, capture, instances)."""
    from scones.cli import main
    from scones.settings import Settings

    sagemaker, _, registry = aws
    Deployer(registry, _backend(aws, DeploymentMode())).handle(
        state_change_event(registry.get_version("SconesModels", 1)))
    backend = SageMakerEndpointBackend.for_endpoint("scones-prod", registry, sagemaker)
    assert (backend.settings.execution_role_arn, backend.settings.capture_s3_uri, backend.settings.instance_type) == (
        ROLE, "s3://bkt/datacapture", "ml.m5.large")
    monkeypatch.setenv("SCONES_REGISTRY", "sagemaker://")
    monkeypatch.setenv("SCONES_MODEL_GROUP", "SconesModels")
    monkeypatch.setattr(Settings, "aws_client", lambda self, service, region=None: {"sagemaker": sagemaker}.get(
        service) or boto3.client(service, region_name="us-east-1"))
    sent, create = [], sagemaker.create_endpoint_config
    monkeypatch.setattr(sagemaker, "create_endpoint_config", lambda **kw: (sent.append(kw), create(**kw))[1])
    stubber = _stubbed_update(monkeypatch, sagemaker, {})
    assert main(["endpoint", "shadow", "3", "--sagemaker", "scones-prod"]) == 0
    stubber.assert_no_pending_responses()
    assert [v["VariantName"] for v in sent[-1]["ShadowProductionVariants"]] == ["shadow-v3"]
    assert [v["VariantName"] for v in sent[-1]["ProductionVariants"]] == ["AllTraffic"]
    assert sent[-1]["DataCaptureConfig"]["DestinationS3Uri"] == "s3://bkt/datacapture", "capture read back, kept"
    assert "shadow-v3 shadows 100%" in capsys.readouterr().out
    _stubbed_update(monkeypatch, sagemaker, {})
    assert main(["endpoint", "split", "1=80", "2=20", "--sagemaker", "scones-prod"]) == 0
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in sent[-1]["ProductionVariants"]] == [
        ("v1", 80.0), ("v2", 20.0)] and "ShadowProductionVariants" not in sent[-1]

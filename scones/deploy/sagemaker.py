"""SageMaker endpoint backend: Model from the package, EndpointConfig with data capture,
create or blue/green update, target-tracking autoscaling.

The deployment mode (:mod:`scones.deploy.modes`) shapes each call: a serverless variant carries a
``ServerlessConfig`` instead of instances and no data capture (the classifier captures), and is not
autoscaled; the update's traffic routing is the configured rollout (all at once, canary, linear).
:meth:`SageMakerEndpointBackend.apply_layout` serves an A/B split (weighted production variants)
or a shadow (``ShadowProductionVariants``) through one new endpoint configuration.

Names are derived from the endpoint and the package version, so a retried or
duplicated event finds what an earlier attempt created instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from scones.aws_errors import call
from scones.deploy import EndpointBackend
from scones.deploy.modes import SERVERLESS, DeploymentMode, Layout, ServerlessConfig, VariantSpec
from scones.errors import NotFound
from scones.registry import ModelRegistry, ModelVersion

VARIANT = "AllTraffic"


@dataclass(frozen=True)
class EndpointSettings:
    endpoint_name: str
    execution_role_arn: str
    capture_s3_uri: str
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    min_capacity: int = 1
    max_capacity: int = 3
    invocations_per_instance: float = 25.0
    scale_out_cooldown: int = 180
    scale_in_cooldown: int = 300
    rollback_alarms: tuple[str, ...] = field(default=())
    kms_key_id: str = ""  # encrypts the endpoint's volumes and the capture objects when set
    mode: DeploymentMode = field(default_factory=DeploymentMode)

    @property
    def alarms(self) -> tuple[str, ...]:
        return self.rollback_alarms or (f"{self.endpoint_name}-invocation-5xx-errors",)


def _name(*parts: str) -> str:
    """SageMaker resource names: alphanumerics and hyphens, at most 63 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "-", "-".join(parts))[:63].strip("-")


class SageMakerEndpointBackend(EndpointBackend):
    def __init__(self, settings: EndpointSettings, registry: ModelRegistry, client=None, autoscaling=None):
        import boto3

        self.settings = settings
        self.registry = registry
        self.client = client or boto3.client("sagemaker")
        self.autoscaling = autoscaling or boto3.client("application-autoscaling",
                                                       region_name=self.client.meta.region_name)

    @classmethod
    def for_endpoint(cls, endpoint_name: str, registry: ModelRegistry, client, autoscaling=None) \
            -> SageMakerEndpointBackend:
        """The backend of an endpoint that exists, its settings read back from it: role, capture, instances, mode.

        What ``scones endpoint shadow|split --sagemaker NAME`` works on, so a command needs nothing the
        deployer Lambda's environment holds.
        """
        endpoint = call(f"describe endpoint {endpoint_name}", client.describe_endpoint, EndpointName=endpoint_name)
        config = call("describe endpoint config", client.describe_endpoint_config,
                      EndpointConfigName=endpoint["EndpointConfigName"])
        variant = config["ProductionVariants"][0]
        model = call("describe model", client.describe_model, ModelName=variant["ModelName"])
        serverless = variant.get("ServerlessConfig")
        mode = DeploymentMode(SERVERLESS, serverless=ServerlessConfig(
            serverless["MemorySizeInMB"], serverless["MaxConcurrency"],
            serverless.get("ProvisionedConcurrency", 0))) if serverless else DeploymentMode()
        capture = config.get("DataCaptureConfig") or {}
        settings = EndpointSettings(
            endpoint_name, model["ExecutionRoleArn"], capture.get("DestinationS3Uri", ""),
            instance_type=variant.get("InstanceType", "ml.m5.large"),
            initial_instance_count=variant.get("InitialInstanceCount", 1), kms_key_id=config.get("KmsKeyId", ""),
            mode=mode)
        return cls(settings, registry, client, autoscaling or object())

    def _call(self, what: str, method, **kwargs):
        return call(what, method, **kwargs)

    def _endpoint(self) -> dict | None:
        try:
            return call(f"describe endpoint {self.settings.endpoint_name}", self.client.describe_endpoint,
                        EndpointName=self.settings.endpoint_name)
        except NotFound:
            return None

    def live_version(self) -> ModelVersion | None:
        endpoint = self._endpoint()
        if endpoint is None:
            return None
        config = self._call("describe endpoint config", self.client.describe_endpoint_config,
                            EndpointConfigName=endpoint["EndpointConfigName"])
        model = self._call("describe model", self.client.describe_model,
                           ModelName=config["ProductionVariants"][0]["ModelName"])
        containers = model.get("Containers") or [model.get("PrimaryContainer", {})]
        arn = containers[0].get("ModelPackageName", "")
        if not arn:
            return None
        group_slug, version = arn.rsplit("/", 2)[-2:]
        for group in self.registry.list_groups():
            if group.lower() == group_slug:
                return self.registry.get_version(group, int(version))
        return None

    def deploy(self, version: ModelVersion) -> None:
        s = self.settings
        s.mode.check(Layout.single(version.version), gpu=s.instance_type.startswith(("ml.g", "ml.p")))
        config_name = _name(s.endpoint_name, f"v{version.version}", "config")
        self._create_config(config_name, Layout.single(version.version), {version.version: version})
        self._create_or_update(config_name, self.deployment_config())
        if not s.mode.is_serverless:  # a serverless variant scales itself: it has no instance count to track
            self.register_autoscaling()

    def apply_layout(self, layout: Layout) -> str:
        """Serve ``layout`` (an A/B split, a shadow): one new endpoint configuration, then UpdateEndpoint.

        Returns the configuration's name (derived from the layout, so applying it twice creates nothing new).
        """
        self.settings.mode.check(layout)
        versions = {n: self.registry.get_version(self._group(), n) for n in layout.versions()}
        digest = hashlib.sha256(json.dumps(layout.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
        config_name = _name(self.settings.endpoint_name, "layout", digest)
        self._create_config(config_name, layout, versions)
        self._create_or_update(config_name, None)
        return config_name

    def _group(self) -> str:
        live = self.live_version()
        if live is None:
            raise NotFound(f"endpoint {self.settings.endpoint_name} serves nothing yet: approve a version first")
        return live.group

    def _model(self, version: ModelVersion) -> str:
        s = self.settings
        model_name = _name(s.endpoint_name, f"v{version.version}")
        if not self._exists(self.client.describe_model, ModelName=model_name):
            self._call("create model", self.client.create_model, ModelName=model_name,
                       PrimaryContainer={"ModelPackageName": version.arn}, ExecutionRoleArn=s.execution_role_arn,
                       Tags=[{"Key": "scones:model-package", "Value": version.arn}])
        return model_name

    def production_variant(self, spec: VariantSpec, model_name: str) -> dict:
        """One variant of an endpoint configuration: instances (real-time) or a ServerlessConfig."""
        s = self.settings
        variant = {"VariantName": spec.name, "ModelName": model_name, "InitialVariantWeight": spec.weight}
        if s.mode.is_serverless:
            variant["ServerlessConfig"] = s.mode.serverless.request()
        else:
            variant.update(InstanceType=s.instance_type, InitialInstanceCount=s.initial_instance_count)
        return variant

    def _create_config(self, config_name: str, layout: Layout, versions: dict[int, ModelVersion]) -> None:
        if self._exists(self.client.describe_endpoint_config, EndpointConfigName=config_name):
            return
        s = self.settings
        extra: dict = {"KmsKeyId": s.kms_key_id} if s.kms_key_id else {}
        if not s.mode.is_serverless and s.capture_s3_uri:  # SageMaker refuses capture on a serverless endpoint
            extra["DataCaptureConfig"] = self.data_capture_config()
        if layout.shadow is not None:
            extra["ShadowProductionVariants"] = [
                self.production_variant(layout.shadow, self._model(versions[layout.shadow.version]))]
        self._call("create endpoint config", self.client.create_endpoint_config, EndpointConfigName=config_name,
                   ProductionVariants=[self.production_variant(spec, self._model(versions[spec.version]))
                                       for spec in layout.production], **extra)

    def _create_or_update(self, config_name: str, deployment_config: dict | None) -> None:
        s = self.settings
        if self._endpoint() is None:
            self._call("create endpoint", self.client.create_endpoint, EndpointName=s.endpoint_name,
                       EndpointConfigName=config_name)
        else:
            self._call("update endpoint", self.client.update_endpoint, EndpointName=s.endpoint_name,
                       EndpointConfigName=config_name, RetainAllVariantProperties=False,
                       **({"DeploymentConfig": deployment_config} if deployment_config else {}))

    def data_capture_config(self) -> dict:
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": self.settings.capture_s3_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
            **({"KmsKeyId": self.settings.kms_key_id} if self.settings.kms_key_id else {}),
        }

    def deployment_config(self) -> dict:
        """Blue/green by the configured rollout (all at once, canary, linear); the alarms roll it back."""
        return {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": self.settings.mode.rollout.traffic_routing(),
                "TerminationWaitInSeconds": 300,
                "MaximumExecutionTimeoutInSeconds": 3600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in self.settings.alarms]},
        }

    def register_autoscaling(self) -> None:
        s = self.settings
        resource = f"endpoint/{s.endpoint_name}/variant/{VARIANT}"
        dimension = "sagemaker:variant:DesiredInstanceCount"
        self._call("register scalable target", self.autoscaling.register_scalable_target,
                   ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=dimension,
                   MinCapacity=s.min_capacity, MaxCapacity=s.max_capacity)
        self._call("put scaling policy", self.autoscaling.put_scaling_policy,
                   PolicyName=_name(s.endpoint_name, "invocations-target"), ServiceNamespace="sagemaker",
                   ResourceId=resource, ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
                   TargetTrackingScalingPolicyConfiguration={
                       "TargetValue": s.invocations_per_instance,
                       "PredefinedMetricSpecification": {
                           "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                       "ScaleOutCooldown": s.scale_out_cooldown,
                       "ScaleInCooldown": s.scale_in_cooldown,
                   })

    @staticmethod
    def _exists(method, **kwargs) -> bool:
        """True when the resource exists; only "not found" means no (a denied call is an error, not a no)."""
        try:
            call("check", method, **kwargs)
            return True
        except NotFound:
            return False

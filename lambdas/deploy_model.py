"""Lambda: EventBridge "SageMaker Model Package State Change" -> redeploy the endpoint.

Settings (the template's): ``ENDPOINT_NAME``, ``EXECUTION_ROLE_ARN``, ``CAPTURE_S3_URI``,
optional ``MODEL_PACKAGE_GROUP`` (ignore other groups), ``INSTANCE_TYPE``,
``ROLLBACK_ALARMS`` (comma separated CloudWatch alarm names), ``KMS_KEY_ID`` (endpoint volumes and
capture objects), ``NOTIFY_TOPIC_ARN``
(SNS topic told about each deployment and rollback); ``DEPLOY_MODE`` (realtime or serverless), ``ROLLOUT``
(all-at-once, canary 10% 5m, linear 20% 2m), ``SERVERLESS_MEMORY`` and ``SERVERLESS_CONCURRENCY``
(:mod:`scones.deploy.modes`, which refuses what SageMaker does not allow together).
"""

from __future__ import annotations

import json

from lambdas._runtime import Clients, Env, entry_point


def build_deployer(env: Env, clients: Clients):
    """The deployer over the SageMaker registry and endpoint, with the function's settings and clients."""
    from common import defaults
    from scones.deploy import Deployer
    from scones.deploy.modes import DeploymentMode
    from scones.deploy.sagemaker import EndpointSettings, SageMakerEndpointBackend
    from scones.registry.sagemaker import SageMakerRegistry

    settings = EndpointSettings(
        endpoint_name=env["ENDPOINT_NAME"],
        execution_role_arn=env["EXECUTION_ROLE_ARN"],
        capture_s3_uri=env["CAPTURE_S3_URI"],
        instance_type=env.get("INSTANCE_TYPE", "ml.m5.large"),
        rollback_alarms=tuple(a for a in env.get("ROLLBACK_ALARMS", "").split(",") if a),
        kms_key_id=env.get("KMS_KEY_ID", ""),
        mode=DeploymentMode.parse(env.get("DEPLOY_MODE") or defaults.DEPLOY_MODE,
                                  env.get("ROLLOUT") or defaults.ROLLOUT,
                                  int(env.get("SERVERLESS_MEMORY") or defaults.SERVERLESS_MEMORY_MB),
                                  int(env.get("SERVERLESS_CONCURRENCY") or defaults.SERVERLESS_MAX_CONCURRENCY)),
    )
    registry = SageMakerRegistry(clients("sagemaker"), clients("s3"))
    backend = SageMakerEndpointBackend(settings, registry, clients("sagemaker"), clients("application-autoscaling"))
    notifier = None
    if env.get("NOTIFY_TOPIC_ARN"):
        from scones.notify import SnsNotifier

        notifier = SnsNotifier(env["NOTIFY_TOPIC_ARN"], clients("sns"))
    return Deployer(registry, backend, env.get("MODEL_PACKAGE_GROUP") or None, notifier, settings.endpoint_name)


class DeploymentFailed(RuntimeError):
    """The approved (or rollback) version did not deploy; the live one keeps serving. Raised after the
    notification so Lambda counts an error and EventBridge's asynchronous invocation retries."""


FAILED_ACTIONS = ("deploy_failed", "rollback_failed", "no_deployable_version")


def make_handler(env: Env, clients: Clients):
    """A handler returning the decision (deployed, rolled_back, already_live, ignored, no_rollback_target)."""
    deployer = build_deployer(env, clients)

    def configured(event, context=None):
        decision = deployer.handle(event).to_dict()
        print(json.dumps({"event_id": event.get("id") if isinstance(event, dict) else None, **decision}))
        if decision["action"] in FAILED_ACTIONS:
            raise DeploymentFailed(f"{decision['action']}: {decision['reason']}")
        return decision

    return configured


handler = entry_point(make_handler)

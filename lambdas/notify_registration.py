"""Lambda: a new model package waits for approval -> tell the approvers, with both models' metrics.

Triggered by EventBridge "SageMaker Model Package State Change" with status
``PendingManualApproval``. Settings: ``NOTIFY_TOPIC_ARN``; ``ENDPOINT_NAME``: the candidate is
compared with the version that endpoint serves (an approved version that failed to deploy never
served), and only without an endpoint with the newest approved one.
"""

from __future__ import annotations

from lambdas._runtime import Clients, Env, entry_point


def notify(event, registry, notifier, live=None) -> dict:
    """Tell ``notifier`` about the version the event names, compared with what serves (``live()``) or is approved."""
    from scones.deploy import StateChange
    from scones.notify import messages

    change = StateChange.from_event(event)
    version = registry.get_version(change.group, change.version)
    subject, message = messages.registration(registry, version, live)
    notifier.send("model_registered", subject, message)
    return {"notified": subject}


def make_handler(env: Env, clients: Clients):
    """A handler over the SageMaker registry, notifying the function's ``NOTIFY_TOPIC_ARN``."""
    from scones.notify import SnsNotifier
    from scones.registry.sagemaker import SageMakerRegistry

    registry = SageMakerRegistry(clients("sagemaker"), clients("s3"))
    notifier = SnsNotifier(env["NOTIFY_TOPIC_ARN"], clients("sns"))
    live = None
    if env.get("ENDPOINT_NAME"):
        from scones.deploy.sagemaker import EndpointSettings, SageMakerEndpointBackend

        endpoint = EndpointSettings(env["ENDPOINT_NAME"], execution_role_arn="", capture_s3_uri="")  # reads only
        backend = SageMakerEndpointBackend(endpoint, registry, clients("sagemaker"))
        live = backend.live_version
    return lambda event, context=None: notify(event, registry, notifier, live)


handler = entry_point(make_handler)

"""Lambda: a new model package waits for approval -> tell the approvers, with both models' metrics.

Triggered by EventBridge "SageMaker Model Package State Change" with status
``PendingManualApproval``. Settings: ``NOTIFY_TOPIC_ARN``.
"""

from __future__ import annotations

from lambdas._runtime import Clients, Env, entry_point


def notify(event, registry, notifier) -> dict:
    """Tell ``notifier`` about the version the event names, compared with the approved one in ``registry``."""
    from scones.deploy import StateChange
    from scones.notify import messages

    change = StateChange.from_event(event)
    version = registry.get_version(change.group, change.version)
    subject, message = messages.registration(registry, version)
    notifier.send("model_registered", subject, message)
    return {"notified": subject}


def make_handler(env: Env, clients: Clients):
    """A handler over the SageMaker registry, notifying the function's ``NOTIFY_TOPIC_ARN``."""
    from scones.notify import SnsNotifier
    from scones.registry.sagemaker import SageMakerRegistry

    registry = SageMakerRegistry(clients("sagemaker"), clients("s3"))
    notifier = SnsNotifier(env["NOTIFY_TOPIC_ARN"], clients("sns"))
    return lambda event, context=None: notify(event, registry, notifier)


handler = entry_point(make_handler)

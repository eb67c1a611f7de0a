"""Lambda: a new model package waits for approval -> tell the approvers, with both models' metrics.

Triggered by EventBridge "SageMaker Model Package State Change" with status
``PendingManualApproval``. Environment: ``NOTIFY_TOPIC_ARN``.
"""

from __future__ import annotations

import os


def handler(event, context=None, registry=None, notifier=None):
    from scones.deploy import StateChange
    from scones.notify import SnsNotifier, messages

    change = StateChange.from_event(event)
    if registry is None:
        from scones.registry.sagemaker import SageMakerRegistry

        registry = SageMakerRegistry()
    version = registry.get_version(change.group, change.version)
    subject, message = messages.registration(registry, version)
    (notifier or SnsNotifier(os.environ["NOTIFY_TOPIC_ARN"])).send("model_registered", subject, message)
    return {"notified": subject}

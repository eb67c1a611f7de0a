"""Redeploy on approval: the decision logic, written once, over two endpoint backends.

The input is EventBridge's "SageMaker Model Package State Change" event -- from
EventBridge in AWS (``lambdas/deploy_model.py``), from the local registry's
event table on a laptop (``scones endpoint serve``). The rules:

- Approved, and not already live: deploy it (a duplicate event is a no-op).
- Rejected, and live: roll back to the latest other Approved version
  (if none is left, keep serving and say so: taking production down is a human call).
- Anything else (PendingManualApproval, another group, another event): ignore.

Backends implement two methods -- what is live, and deploy this version -- so the
same rules drive SageMaker endpoints (:mod:`scones.deploy.sagemaker`) and the
local endpoint (:mod:`scones.serving.server`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from scones.errors import InvalidInput
from scones.registry import APPROVED, EVENT_DETAIL_TYPE, REJECTED, ModelRegistry, ModelVersion


@dataclass(frozen=True)
class Decision:
    action: str  # deployed | rolled_back | already_live | ignored | no_rollback_target
    version: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "version": self.version, "reason": self.reason}


@dataclass(frozen=True)
class StateChange:
    group: str
    version: int
    status: str
    arn: str

    @classmethod
    def from_event(cls, event: Any) -> StateChange:
        """Parse and validate the event; raises InvalidInput naming what is wrong."""
        if not isinstance(event, dict):
            raise InvalidInput(f"event must be a JSON object, got {type(event).__name__}")
        if event.get("detail-type") != EVENT_DETAIL_TYPE:
            raise InvalidInput(f"not a model package state change: detail-type {event.get('detail-type')!r}")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise InvalidInput("event has no 'detail' object")
        missing = [k for k in ("ModelPackageGroupName", "ModelPackageVersion", "ModelApprovalStatus")
                   if k not in detail]
        if missing:
            raise InvalidInput(f"event detail lacks {missing}")
        try:
            version = int(detail["ModelPackageVersion"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"ModelPackageVersion is not a number: {detail['ModelPackageVersion']!r}") from exc
        return cls(str(detail["ModelPackageGroupName"]), version, str(detail["ModelApprovalStatus"]),
                   str(detail.get("ModelPackageArn", "")))


class EndpointBackend(abc.ABC):
    """Where models are served: a SageMaker endpoint, or the local endpoint process."""

    @abc.abstractmethod
    def live_version(self) -> ModelVersion | None:
        """The model package version serving now, or None when nothing is deployed."""

    @abc.abstractmethod
    def deploy(self, version: ModelVersion) -> None:
        """Put ``version`` live with no downtime; raises on failure, leaving the old one serving."""


class Deployer:
    def __init__(self, registry: ModelRegistry, backend: EndpointBackend, group: str | None = None,
                 notifier=None, endpoint_name: str = "endpoint"):
        self.registry = registry
        self.backend = backend
        self.group = group
        self.notifier = notifier
        self.endpoint_name = endpoint_name

    def handle(self, event: Any) -> Decision:
        """Apply the rules to one state-change event; announces deployments and rollbacks."""
        decision = self._decide(event)
        if self.notifier is not None and decision.action in ("deployed", "rolled_back", "no_rollback_target"):
            from scones.notify import messages

            version = self.backend.live_version()
            self.notifier.send("deployment", *messages.deployment(self.endpoint_name, decision.to_dict(), version))
        return decision

    def _decide(self, event: Any) -> Decision:
        change = StateChange.from_event(event)
        if self.group and change.group != self.group:
            return Decision("ignored", change.version, f"group {change.group} is not {self.group}")
        current = self.registry.get_version(change.group, change.version)  # the registry is the truth
        live = self.backend.live_version()
        is_live = live is not None and live.group == current.group and live.version == current.version
        if current.status == APPROVED:
            if is_live:
                return Decision("already_live", current.version, "duplicate or repeated approval")
            self.backend.deploy(current)
            return Decision("deployed", current.version, f"approved: {current.approval_description}".rstrip(": "))
        if current.status == REJECTED and is_live:
            previous = self.registry.latest_approved(change.group)
            if previous is None:
                return Decision("no_rollback_target", current.version,
                                "rejected version is live and no other version is approved; still serving it")
            self.backend.deploy(previous)
            return Decision("rolled_back", previous.version, f"version {current.version} rejected")
        return Decision("ignored", current.version, f"status {current.status}; live version unaffected")

    def sync(self, group: str) -> Decision:
        """Make the latest approved version live (start-up, or after missed events)."""
        latest = self.registry.latest_approved(group)
        if latest is None:
            return Decision("ignored", None, f"no approved version in {group}")
        live = self.backend.live_version()
        if live is not None and (live.group, live.version) == (latest.group, latest.version):
            return Decision("already_live", latest.version, "in sync")
        self.backend.deploy(latest)
        return Decision("deployed", latest.version, "latest approved version")

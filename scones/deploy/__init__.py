"""Redeploy on approval: the decision logic, written once, over two endpoint backends.

The input is EventBridge's "SageMaker Model Package State Change" event -- from
EventBridge in AWS (``lambdas/deploy_model.py``), from the local registry's
event table on a laptop (``scones endpoint serve``). The rules:

- Approved, and not already live: deploy it (a duplicate event is a no-op).
- Rejected, and live: roll back to the latest other Approved version that deploys
  (if none is left, keep serving and say so: taking production down is a human call).
- Anything else (PendingManualApproval, another group, another event): ignore.

Failures are told, never swallowed: a version that fails to deploy leaves the live one
serving, is listed in :attr:`Deployer.failed` (the endpoint's status and the dashboard show
it) and is announced through the notifier; start-up (:meth:`Deployer.sync`) serves the newest
Approved version that deploys and says which newer ones it skipped and why; a rollback whose
every target fails is announced as ``rollback_failed``.

Backends implement two methods -- what is live, and deploy this version -- so the
same rules drive SageMaker endpoints (:mod:`scones.deploy.sagemaker`) and the
local endpoint (:mod:`scones.serving.server`).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from scones.errors import InvalidInput
from scones.registry import APPROVED, EVENT_DETAIL_TYPE, REJECTED, ModelRegistry, ModelVersion

#: Decisions that change or fail to change what is live: each is announced through the notifier.
ANNOUNCED = ("deployed", "rolled_back", "no_rollback_target", "deploy_failed", "rollback_failed",
             "no_deployable_version")


@dataclass(frozen=True)
class Decision:
    # deployed | rolled_back | already_live | ignored | no_rollback_target | deploy_failed | rollback_failed
    # | no_deployable_version
    action: str
    version: int | None
    reason: str
    skipped: tuple[dict, ...] = ()  # versions tried and not deployed: {"version", "reason"}

    def to_dict(self) -> dict[str, Any]:
        result = {"action": self.action, "version": self.version, "reason": self.reason}
        if self.skipped:  # only when versions were passed over: the usual shape stays three keys
            result["skipped"] = [dict(item) for item in self.skipped]
        return result


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


def _same(live: ModelVersion | None, version: ModelVersion) -> bool:
    """True when ``live`` is ``version`` (same group and number; statuses may differ)."""
    return live is not None and (live.group, live.version) == (version.group, version.version)


class Deployer:
    def __init__(self, registry: ModelRegistry, backend: EndpointBackend, group: str | None = None,
                 notifier=None, endpoint_name: str = "endpoint"):
        self.registry = registry
        self.backend = backend
        self.group = group
        self.notifier = notifier
        self.endpoint_name = endpoint_name
        #: Versions that failed to deploy, newest last: {"group", "version", "reason"}.
        self.failed: list[dict] = []

    def handle(self, event: Any) -> Decision:
        """Apply the rules to one state-change event; announces what changed, or failed to."""
        return self._announce(self._decide(event))

    def _announce(self, decision: Decision) -> Decision:
        if self.notifier is not None and decision.action in ANNOUNCED:
            from scones.notify import messages

            version = self.backend.live_version()
            self.notifier.send("deployment", *messages.deployment(self.endpoint_name, decision.to_dict(), version))
        return decision

    def _try_deploy(self, version: ModelVersion) -> str | None:
        """Deploy ``version``; None on success, else why it failed (the live version keeps serving)."""
        try:
            self.backend.deploy(version)
        except Exception as exc:  # noqa: BLE001 - any failure of a candidate must leave the live model serving
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.failed.append({"group": version.group, "version": version.version, "reason": reason})
            return reason
        return None

    def _first_deployable(self, candidates: Iterable[ModelVersion]) -> tuple[ModelVersion | None, tuple[dict, ...]]:
        """Deploy the first candidate that works; return it (or None) and the ones skipped, with reasons."""
        skipped = []
        for candidate in candidates:
            reason = self._try_deploy(candidate)
            if reason is None:
                return candidate, tuple(skipped)
            skipped.append({"version": candidate.version, "reason": reason})
        return None, tuple(skipped)

    def _approved_newest_first(self, group: str, excluding: int | None = None) -> Iterator[ModelVersion]:
        return (v for v in self.registry.approved_newest_first(group) if v.version != excluding)

    def _decide(self, event: Any) -> Decision:
        change = StateChange.from_event(event)
        if self.group and change.group != self.group:
            return Decision("ignored", change.version, f"group {change.group} is not {self.group}")
        current = self.registry.get_version(change.group, change.version)  # the registry is the truth
        live = self.backend.live_version()
        is_live = _same(live, current)
        if current.status == APPROVED:
            if is_live:
                return Decision("already_live", current.version, "duplicate or repeated approval")
            reason = self._try_deploy(current)
            if reason is not None:
                serving = f"v{live.version} keeps serving" if live else "nothing is serving"
                return Decision("deploy_failed", current.version, f"approved but not deployable ({serving}): {reason}")
            return Decision("deployed", current.version, f"approved: {current.approval_description}".rstrip(": "))
        if current.status == REJECTED and is_live:
            candidates = self._approved_newest_first(change.group, excluding=current.version)
            newest = next(candidates, None)
            if newest is None:
                return Decision("no_rollback_target", current.version,
                                "rejected version is live and no other version is approved; still serving it")
            previous, skipped = self._first_deployable(itertools.chain([newest], candidates))
            if previous is None:
                return Decision("rollback_failed", current.version,
                                f"rejected v{current.version} is still serving: no approved version deploys", skipped)
            return Decision("rolled_back", previous.version, f"version {current.version} rejected", skipped)
        return Decision("ignored", current.version, f"status {current.status}; live version unaffected")

    def sync(self, group: str) -> Decision:
        """Make the newest approved version that deploys live (start-up, or after missed events).

        Newer approved versions that fail to deploy are skipped, named in the decision and announced.
        """
        candidates = self._approved_newest_first(group)
        newest = next(candidates, None)
        if newest is None:
            return Decision("ignored", None, f"no approved version in {group}")
        live = self.backend.live_version()
        if _same(live, newest):
            return Decision("already_live", newest.version, "in sync")
        deployed, skipped = self._first_deployable(itertools.chain([newest], candidates))
        if deployed is None:
            return self._announce(Decision("no_deployable_version", None,
                                           f"none of the approved versions of {group} deploys", skipped))
        if _same(live, deployed):
            return Decision("already_live", deployed.version, "in sync", skipped)
        note = "; skipped " + ", ".join(f"v{s['version']} ({s['reason']})" for s in skipped) if skipped else ""
        decision = Decision("deployed", deployed.version, f"newest approved version that deploys{note}", skipped)
        return self._announce(decision) if skipped else decision

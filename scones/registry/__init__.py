"""Model registry: one interface, a local (SQLite) and a SageMaker Model Registry backend.

The backend is chosen by URI (``sqlite:///path/registry.db`` or ``sagemaker://``),
through a small table of lazily imported builders. Both return the project's
own :class:`ModelVersion`, never boto3 dicts or SQLite rows, and raise
:mod:`scones.errors` types with the same wording.

Approving or rejecting emits an event shaped like EventBridge's
"SageMaker Model Package State Change" to every subscriber; in AWS, SageMaker
itself also publishes it to EventBridge, where the deployer listens.
"""

from __future__ import annotations

import abc
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common import defaults
from common.metrics import accuracy_of
from scones.backends import ClientFactory, open_backend
from scones.errors import InvalidInput, NotFound

PENDING, APPROVED, REJECTED = defaults.PENDING_APPROVAL, defaults.APPROVED, defaults.REJECTED
STATUSES = (PENDING, APPROVED, REJECTED)
EVENT_DETAIL_TYPE = defaults.MODEL_PACKAGE_EVENT
EVENT_SOURCE = defaults.SAGEMAKER_EVENT_SOURCE

Event = dict[str, Any]
Listener = Callable[[Event], None]


@dataclass(frozen=True)
class ModelVersion:
    """One model package: a version of a model in a group."""

    group: str
    version: int
    arn: str
    status: str
    model_data_url: str
    image: str
    created: str  # ISO 8601, UTC
    metrics: dict[str, Any] = field(default_factory=dict)  # the evaluation.json document
    description: str = ""
    approval_description: str = ""
    pipeline_execution: str = ""
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return accuracy_of(self.metrics)


@dataclass(frozen=True)
class ApprovalRecord:
    """One entry of a version's approval history: registered, approved, rejected, each with why and when."""

    status: str
    reason: str
    at: str  # ISO 8601, UTC


#: How much of a reason the history keeps (SageMaker's metadata values hold 256 characters).
HISTORY_REASON_CHARS = 200


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ModelRegistry(abc.ABC):
    """What the pipeline, the CLI and the deployer need from a model registry."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> ModelRegistry:
        """The backend a URI names (:mod:`scones.backends`); ``clients(service, region=None)`` makes its AWS clients."""

    @abc.abstractmethod
    def create_group(self, group: str, description: str = "") -> None:
        """Create a Model Package Group; a no-op when it exists."""

    @abc.abstractmethod
    def list_groups(self) -> list[str]:
        """Names of all groups, sorted."""

    @abc.abstractmethod
    def register(self, group: str, model_data_url: str, image: str, metrics: dict | None = None,
                 status: str = PENDING, description: str = "", pipeline_execution: str = "",
                 environment: dict[str, str] | None = None, metrics_uri: str = "") -> ModelVersion:
        """Add the next version to ``group`` (created if missing). Versions never repeat.

        ``metrics_uri`` is where ``metrics`` (the evaluation report) lives, as RegisterModel's
        ModelMetrics name it; a registry that keeps documents by reference (SageMaker's) points there.
        """

    @abc.abstractmethod
    def list_versions(self, group: str) -> list[ModelVersion]:
        """All versions of ``group``, oldest first. Raises NotFound for an unknown group."""

    @abc.abstractmethod
    def get_version(self, group: str, version: int) -> ModelVersion:
        """One version. Raises NotFound naming the versions that do exist."""

    @abc.abstractmethod
    def _set_status(self, group: str, version: int, status: str, reason: str) -> ModelVersion:
        """Persist a status change and append it to the version's history; return the updated version."""

    @abc.abstractmethod
    def history(self, group: str, version: int) -> list[ApprovalRecord]:
        """The version's approval history, oldest first: its registration, then every status change.

        A reason once given stays readable here after the next change overwrites
        ``approval_description`` (an approver wants to know why v2 was rejected last week).
        """

    def prune_events(self, keep: int, dry_run: bool = False) -> int:
        """Drop all but the ``keep`` newest state-change events this registry stores; return how many.

        The local registry keeps events for the processes that follow it; SageMaker's keeps none
        (EventBridge delivers them), so the default is nothing to prune.
        """
        return 0

    # Shared behaviour, written once against the interface -------------------------------

    def set_status(self, group: str, version: int, status: str, reason: str = "") -> ModelVersion:
        """Change the approval status and notify subscribers (also when unchanged: idempotent consumers)."""
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {STATUSES}, got {status!r}")
        updated = self._set_status(group, int(version), status, reason)
        self._emit(state_change_event(updated))
        return updated

    def approve(self, group: str, version: int, reason: str = "") -> ModelVersion:
        return self.set_status(group, version, APPROVED, reason)

    def reject(self, group: str, version: int, reason: str = "") -> ModelVersion:
        return self.set_status(group, version, REJECTED, reason)

    def approved_newest_first(self, group: str) -> Iterator[ModelVersion]:
        """Approved versions, newest first, lazily: a deployer stops at the first one that deploys."""
        yield from (v for v in reversed(self.list_versions(group)) if v.status == APPROVED)

    def latest_approved(self, group: str) -> ModelVersion | None:
        return next(iter(self.approved_newest_first(group)), None)

    def statuses(self, group: str) -> dict[int, str]:
        """Version number -> approval status; backends answer it without reading whole versions."""
        return {v.version: v.status for v in self.list_versions(group)}

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    @staticmethod
    def _missing_version(group: str, version: int, existing: list[int]) -> NotFound:
        have = ", ".join(map(str, existing)) or "none"
        return NotFound(f"model package group {group!r} has no version {version} (versions: {have})")


def state_change_event(version: ModelVersion, region: str = "us-east-1", account: str = "000000000000") -> Event:
    """The EventBridge event SageMaker sends when a model package's status changes."""
    if version.arn.startswith("arn:aws:sagemaker:"):
        _, _, _, region, account, _ = version.arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [version.arn],
        "detail": {
            "ModelPackageGroupName": version.group,
            "ModelPackageVersion": version.version,
            "ModelPackageArn": version.arn,
            "ModelPackageDescription": version.description,
            "CreationTime": version.created,
            "InferenceSpecification": {"Containers": [
                {"Image": version.image, "ModelDataUrl": version.model_data_url, "Environment": version.environment}]},
            "ModelApprovalStatus": version.status,
            "ApprovalDescription": version.approval_description,
            "ModelPackageStatus": "Completed",
        },
    }


def package_arn(group: str, version: int, region: str = "us-east-1", account: str = "000000000000") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model-package/{group.lower()}/{version}"


def open_registry(uri: str, clients: ClientFactory | None = None) -> ModelRegistry:
    """``sqlite:///path/registry.db`` -> local; ``sagemaker://[region]`` -> SageMaker (clients from ``clients``)."""
    return open_backend("registry", uri, clients)

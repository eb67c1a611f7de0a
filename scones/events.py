"""Where "a model version changed" comes from: one port, chosen by the registry's URI.

The endpoint follows approvals as the deployer Lambda does in AWS, where EventBridge delivers
"SageMaker Model Package State Change". Locally the SQLite registry keeps those events in a
table that other processes read (:class:`SqliteEventSource`). Any other registry -- SageMaker's,
from a laptop with no EventBridge target -- is followed by comparing each version's status with
the previous poll and synthesising the same event for every change (:class:`PollingEventSource`).
The endpoint depends on this port only, never on one registry's extra methods.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from scones.backends import open_backend
from scones.registry import Event, ModelRegistry, state_change_event

if TYPE_CHECKING:
    from scones.registry.local import SqliteRegistry


class EventSource(abc.ABC):
    """State-change events, oldest first, as EventBridge would deliver them."""

    #: how often a follower should poll this source
    poll_seconds: float = 0.25

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, uri: str, clients: Any = None, *, registry: ModelRegistry, group: str) -> EventSource:
        """The source following ``registry`` (opened from the registry's ``uri``) for ``group``."""

    @abc.abstractmethod
    def start(self) -> None:
        """Remember where things stand now: later polls return only what changes after this."""

    @abc.abstractmethod
    def poll(self) -> list[tuple[str, Event]]:
        """``(event id, event)`` for every change since the last poll (or :meth:`start`), oldest first."""


class SqliteEventSource(EventSource):
    """The local registry's events table: every status change, written by whichever process made it."""

    def __init__(self, registry: SqliteRegistry):
        self.registry = registry
        self.cursor = 0

    @classmethod
    def from_uri(cls, uri: str, clients: Any = None, *, registry: SqliteRegistry, group: str) -> SqliteEventSource:
        return cls(registry)

    def start(self) -> None:
        self.cursor = self.registry.last_event_id()

    def poll(self) -> list[tuple[str, Event]]:
        events = self.registry.events_since(self.cursor)
        if events:
            self.cursor = events[-1][0]
        return [(str(event_id), event) for event_id, event in events]


class PollingEventSource(EventSource):
    """Any registry: diff the versions' statuses between polls and emit one event per change."""

    poll_seconds = 10.0  # a list call per poll: gentle on the SageMaker API

    def __init__(self, registry: ModelRegistry, group: str, poll_seconds: float | None = None):
        self.registry, self.group = registry, group
        self.poll_seconds = poll_seconds or self.poll_seconds
        self.seen: dict[int, str] = {}

    @classmethod
    def from_uri(cls, uri: str, clients: Any = None, *, registry: ModelRegistry, group: str) -> PollingEventSource:
        return cls(registry, group)

    def start(self) -> None:
        self.seen = self.registry.statuses(self.group)

    def poll(self) -> list[tuple[str, Event]]:
        """One listing per poll; only a version whose status changed is read in full (for its event)."""
        changed = []
        for number, status in sorted(self.registry.statuses(self.group).items()):
            if self.seen.get(number) != status:
                version = self.registry.get_version(self.group, number)
                self.seen[number] = version.status
                changed.append((f"{self.group}/{number}/{version.status}", state_change_event(version)))
        return changed


def open_event_source(registry_uri: str, registry: ModelRegistry, group: str) -> EventSource:
    """The event source for a registry URI (:data:`scones.backends.BACKENDS`): the events table for
    ``sqlite://``, polling otherwise."""
    return open_backend("events", registry_uri, registry=registry, group=group)

"""Notifications through one interface: SNS in AWS, a local outbox (JSON Lines + console) by default.

Chosen by ``SCONES_NOTIFY``: ``outbox:///path/outbox.jsonl`` (default, under
``$SCONES_HOME``) or ``sns://arn:aws:sns:region:account:topic``. Messages are
JSON documents with a ``kind`` -- ``model_registered``, ``deployment``,
``human_review`` -- so a subscriber can route them.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import sys
import threading
from pathlib import Path
from typing import Any

from scones.backends import ClientFactory, open_backend
from scones.errors import InvalidInput


class Notifier(abc.ABC):
    """Where notifications go."""

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> Notifier:
        """The backend a URI names (:mod:`scones.backends`); ``clients(service, region=None)`` makes its AWS clients."""

    @abc.abstractmethod
    def send(self, kind: str, subject: str, message: dict[str, Any]) -> None:
        """Deliver one notification; raises SconesError when it cannot be delivered."""


class LocalOutbox(Notifier):
    """Appends to a JSON Lines file (safe across threads) and prints a line to the console."""

    def __init__(self, path: Path, echo: bool = True):
        self.path = Path(path)
        self.echo = echo
        self._lock = threading.Lock()

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> LocalOutbox:
        return cls(Path(uri[len("outbox://"):]), **kwargs)

    def send(self, kind: str, subject: str, message: dict[str, Any]) -> None:
        record = {"time": dt.datetime.now(dt.UTC).isoformat(), "kind": kind, "subject": subject, "message": message}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        if self.echo:
            print(f"  [notification] {subject}", file=sys.stderr, flush=True)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


class SnsNotifier(Notifier):
    def __init__(self, topic_arn: str, client=None):
        if client is None:
            import boto3

            client = boto3.client("sns", region_name=topic_arn.split(":")[3])
        self.topic_arn, self.client = topic_arn, client

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> SnsNotifier:
        """``sns://<topic arn>``: the client is for the topic's own region."""
        topic = uri[len("sns://"):]
        parts = topic.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            raise InvalidInput(f"notifier {uri!r}: expected sns://arn:aws:sns:<region>:<account>:<topic>")
        return cls(topic, clients("sns", region=parts[3]) if clients else None)

    def send(self, kind: str, subject: str, message: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from scones.errors import SconesError

        try:
            self.client.publish(TopicArn=self.topic_arn, Subject=subject[:100],
                                Message=json.dumps({"kind": kind, **message}, default=str),
                                MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}})
        except (BotoCoreError, ClientError) as exc:
            raise SconesError(f"SNS publish to {self.topic_arn} failed: {exc}") from exc


def open_notifier(uri: str, clients: ClientFactory | None = None) -> Notifier:
    """``outbox:///path/outbox.jsonl`` -> a local outbox; ``sns://<topic arn>`` -> SNS (client from ``clients``)."""
    return open_backend("notify", uri, clients)

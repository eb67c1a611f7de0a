"""Every pluggable backend, chosen by URI scheme from one table (as MLflow picks its stores).

| port       | scheme       | backend                                   | URI                                  |
|------------|--------------|-------------------------------------------|--------------------------------------|
| registry   | ``sqlite``   | :class:`scones.registry.local.SqliteRegistry`       | ``sqlite:///path/registry.db`` |
| registry   | ``sagemaker``| :class:`scones.registry.sagemaker.SageMakerRegistry`| ``sagemaker://[region]``       |
| store      | ``file``     | :class:`scones.store.local.LocalStore`    | ``file:///path``                     |
| store      | ``s3``       | :class:`scones.store.s3.S3Store`          | ``s3://``                            |
| notify     | ``outbox``   | :class:`scones.notify.LocalOutbox`        | ``outbox:///path/outbox.jsonl``      |
| notify     | ``sns``      | :class:`scones.notify.SnsNotifier`        | ``sns://arn:aws:sns:...``            |
| review     | ``sqlite``   | :class:`scones.review.local.SqliteReviewQueue` | ``sqlite:///path/review.db``   |
| review     | ``a2i``      | :class:`scones.review.a2i.A2IReviewQueue` | ``a2i://<flow definition arn>``      |
| events     | ``sqlite``   | :class:`scones.events.SqliteEventSource`  | the registry's URI                   |
| events     | any other    | :class:`scones.events.PollingEventSource` | the registry's URI                   |

A backend class is imported only when its scheme is opened, and built by its
``from_uri(uri, clients)`` classmethod, which each port's interface declares: ``clients``
makes AWS clients by service name (``Settings.aws_client``), so an AWS backend never
builds its own. A new backend is one row here and one class implementing its port.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scones.errors import InvalidInput

ClientFactory = Callable[..., Any]
#: The events row used for any registry scheme without an events table of its own.
ANY_SCHEME = "*"


@dataclass(frozen=True)
class Backend:
    target: str  # "module:Class"
    example: str  # what a user writes; listed when a URI names no known scheme

    def load(self) -> type:
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)


BACKENDS: dict[str, dict[str, Backend]] = {
    "registry": {"sqlite": Backend("scones.registry.local:SqliteRegistry", "sqlite:///path/registry.db"),
                 "sagemaker": Backend("scones.registry.sagemaker:SageMakerRegistry", "sagemaker://")},
    "store": {"file": Backend("scones.store.local:LocalStore", "file:///path"),
              "s3": Backend("scones.store.s3:S3Store", "s3://")},
    "notify": {"outbox": Backend("scones.notify:LocalOutbox", "outbox:///path/outbox.jsonl"),
               "sns": Backend("scones.notify:SnsNotifier", "sns://<topic arn>")},
    "review": {"sqlite": Backend("scones.review.local:SqliteReviewQueue", "sqlite:///path/review.db"),
               "a2i": Backend("scones.review.a2i:A2IReviewQueue", "a2i://<flow definition arn>")},
    "events": {"sqlite": Backend("scones.events:SqliteEventSource", "sqlite:///path/registry.db"),
               ANY_SCHEME: Backend("scones.events:PollingEventSource", "any other registry URI")},
}
#: What each port is called in an error message.
PORT_NAMES = {"registry": "registry", "store": "artifact store", "notify": "notifier", "review": "review queue",
              "events": "event source"}


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0] if isinstance(uri, str) and "://" in uri else ""


def backend_for(port: str, uri: str) -> Backend:
    """The table's row for ``uri`` on ``port``; an unknown scheme names the valid URIs."""
    table = BACKENDS[port]
    backend = table.get(scheme_of(uri)) or table.get(ANY_SCHEME)
    if backend is None:
        raise InvalidInput(f"unknown {PORT_NAMES[port]} {uri!r}; use one of: "
                           f"{', '.join(b.example for b in table.values())}")
    return backend


def open_backend(port: str, uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> Any:
    """Build the backend for ``uri``: ``Class.from_uri(uri, clients, **kwargs)``."""
    return backend_for(port, uri).load().from_uri(uri, clients, **kwargs)

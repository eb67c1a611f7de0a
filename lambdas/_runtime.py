"""How every Lambda gets its settings and its AWS clients: one way, for all of them.

Each function module defines ``make_handler(env, clients) -> handler``:

- ``env`` is the function's configuration, by the names its template resource sets
  (``ENDPOINT_NAME``, ``THRESHOLD``, ...); in AWS it is the function's environment;
- ``clients`` makes a boto3 client by service name (:class:`Clients`).

In AWS the module's ``handler`` is :func:`entry_point` of that factory: the function's
environment and one :data:`CLIENTS` per container, made on first use and reused by every
event (a client costs ~50 ms to build; a warm invocation should not pay it). The local
workflow and the tests call ``make_handler`` with a mapping and clients of their own, so
nothing on the platform side writes ``os.environ`` to configure a handler.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

Env = Mapping[str, str]
Handler = Callable[..., Any]
HandlerFactory = Callable[[Env, "Clients"], Handler]

#: Timeouts and retries of every client a function makes: a stuck call must not hold a Lambda for minutes.
CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 2, "mode": "standard"}}


class Clients:
    """boto3 clients by service name, each made on first use and kept.

    Args:
        given: clients to hand out as they are (a test's moto or Stubber clients, a real bucket's client).
        region: the region for clients made here (default: boto3's own resolution, as in Lambda).
        endpoint_urls: service -> endpoint URL (the local endpoint for ``sagemaker-runtime``).
    """

    def __init__(self, given: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_urls: Mapping[str, str] | None = None):
        self.made: dict[str, Any] = dict(given or {})
        self.region = region
        self.endpoint_urls = dict(endpoint_urls or {})

    def __call__(self, service: str) -> Any:
        if service not in self.made:
            import boto3
            from botocore.config import Config

            self.made[service] = boto3.client(service, region_name=self.region, config=Config(**CLIENT_CONFIG),
                                              endpoint_url=self.endpoint_urls.get(service))
        return self.made[service]


#: The container's clients (Lambda reuses a container across events).
CLIENTS = Clients()


def entry_point(make_handler: HandlerFactory) -> Handler:
    """Lambda's ``handler`` for a function module: its factory applied to the function's environment.

    The environment is read when an event arrives rather than at import, so importing a handler
    stays free of side effects (and a test may set a function's variables before calling it).
    """
    def handler(event, context=None):
        return make_handler(os.environ, CLIENTS)(event, context)

    handler.__doc__ = f"Lambda's entry point: {make_handler.__module__}.make_handler(os.environ, CLIENTS)."
    return handler

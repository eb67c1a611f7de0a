"""How every Lambda gets its settings and its AWS clients: one way, for all of them.

Each function module defines ``make_handler(env, clients) -> handler``:

- ``env`` is the function's configuration, by the names its template resource sets
  (``ENDPOINT_NAME``, ``THRESHOLD``, ...); in AWS it is the function's environment;
- ``clients`` makes a boto3 client by service name (:class:`common.clients.Clients`).

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

from common.clients import Clients

__all__ = ["CLIENTS", "Clients", "Env", "entry_point"]

Env = Mapping[str, str]
Handler = Callable[..., Any]
HandlerFactory = Callable[[Env, Clients], Handler]

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

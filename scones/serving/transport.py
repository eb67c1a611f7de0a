"""The endpoint's HTTP transport: uvicorn's event loop, plus the deadlines a model server needs.

Why an event loop: with a thread per connection, 300 clients trickling one header line a second,
or 200 that connect and send nothing, hold every worker and the endpoint stops answering. Here a
waiting connection costs a file descriptor and a timer; threads are spent only on complete
requests (:mod:`scones.serving.server` runs the model in its own pool).

uvicorn (httptools' llhttp parser, uvloop where installed) speaks HTTP/1.1. What it leaves open
for a server facing hostile clients is added in :class:`DeadlineProtocol`:

- a deadline for a request's head, from the connection's first moment or the request's first
  byte: a slow or silent client is cut off after ``read_timeout`` seconds, without a reply;
- a cap on the head's size (431), so a trickled endless header cannot grow memory;
- a bounded drain of a body that was refused before it was read (413): the client reads the
  status, not a reset, and cannot hold the connection open by sending forever;
- malformed requests (a negative Content-Length, smuggling-shaped framing) answered with a JSON
  400 that says what the parser refused.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import resource
import socket
import threading
from dataclasses import dataclass

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: Connections the kernel queues before ``accept`` (Python's default of 5 drops bursts).
LISTEN_BACKLOG = 1024
#: Seconds an idle keep-alive connection stays open between requests (a load balancer's default).
KEEP_ALIVE_SECONDS = 60.0
#: Bytes a request line and headers may take in all.
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a refused body is read and dropped for, after the reply has gone out.
DRAIN_SECONDS = 5.0
#: A request's body at most this large that has not arrived with its head is waited for, up to
#: ``BODY_GRACE_SECONDS``, before its ASGI task starts (which then reads it under the body's deadline).
#: As large as uvicorn reads before it pauses a connection (its HIGH_WATER_LIMIT).
HOLD_BYTES = 64 * 1024
BODY_GRACE_SECONDS = 0.002


@dataclass
class Limits:
    """What one server allows a connection; read when a timer is armed, so a change applies at once."""

    read_timeout: float
    keep_alive: float = KEEP_ALIVE_SECONDS
    max_head_bytes: int = MAX_HEAD_BYTES
    drain_seconds: float = DRAIN_SECONDS


def _json_error(error: str, message: str) -> bytes:
    return json.dumps({"error": error, "message": message}).encode()


def _json_reply(status: int, reason: str, error: str, message: str) -> bytes:
    body = _json_error(error, message)
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


class _OneSendPerReply:
    """A connection's transport that holds a reply's head until its body is written, and sends both at once.

    uvicorn writes the status line and headers when the app starts a response and the body when it
    sends it: two ``send`` system calls per reply, which were a third of the event loop's time at 8
    clients. ``100 Continue`` is not held: the client waits for it before sending the body.
    """

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self._held: bytes | None = None

    def hold_next(self) -> None:
        """The next write is a reply's head (a request's headers are complete)."""
        self._held = b""

    def write(self, data: bytes) -> None:
        held = self._held
        if held == b"" and not data.startswith(b"HTTP/1.1 100 "):
            self._held = data
        elif held:
            self._held = None
            self._transport.writelines((held, data))
        else:
            self._transport.write(data)

    def write_reply(self, data: bytes) -> None:
        """A whole reply, head and body in one buffer: nothing to hold."""
        self._held = None
        self._transport.write(data)

    def close(self) -> None:
        if self._held:
            self._transport.write(self._held)
        self._held = None
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a head-size cap and a bounded drain."""

    limits: Limits  # set on the per-server subclass made by :func:`protocol_for`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _OneSendPerReply(transport)  # the request cycles write through it
        self._parsing = False  # inside feed_data: a request's ASGI task waits for the chunk's end
        self._waiting: tuple | None = None  # (cycle, app) of the request whose task waits
        self._body_timer: asyncio.TimerHandle | None = None  # how long it waits for a body still on its way
        self._head_bytes = 0
        self._reading_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._arm_head_deadline()  # a client that connects and sends nothing is cut off too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        counted = self._reading_head  # a chunk may hold the end of a head and the start of its body
        self._parsing = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "Bad Request", "bad_request", "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            self._refuse(400, "Bad Request", "bad_request", f"malformed HTTP request: {exc}")
            return
        finally:
            self._parsing = False
            if self._waiting is not None:
                self._answer_or_start()
        if counted and self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(431, "Request Header Fields Too Large", "headers_too_large",
                             f"the request line and headers exceed {self.limits.max_head_bytes:,} bytes")

    def _start_asgi_task(self, cycle, app) -> None:
        if self._parsing and self._waiting is None:
            self._waiting = (cycle, app)  # its body may be in the same chunk: see _answer_or_start
            return
        super()._start_asgi_task(cycle, app)

    def _answer_or_start(self) -> None:
        """Answer the waiting request, whose body has arrived, through the app's ``answer_arrived`` (a reply, or
        a future of one; None leaves it to the ASGI call); else start its ASGI task, as uvicorn does. A small
        body still on its way is waited for, briefly.

        Why: most requests arrive whole in one read, or in two close together (http.client, and so
        botocore, write a request's head and its body separately). uvicorn starts each one's task
        when its head is parsed, before its body; here the task waits until the body is in, and a
        whole request the app answers on the spot costs no task, event or ASGI messages.
        """
        cycle, app = self._waiting
        answer = getattr(app, "answer_arrived", None)
        if answer is None or cycle.waiting_for_100_continue or self.flow.write_paused or self.transport.is_closing():
            # (a client not reading its replies gets none written at once: the ASGI call waits for it to drain)
            self._start_waiting()
        elif cycle.more_body:
            if not _small_body(cycle.scope["headers"]):
                self._start_waiting()
            elif self._body_timer is None:
                self._body_timer = self.loop.call_later(BODY_GRACE_SECONDS, self._start_waiting)
        else:
            try:
                reply = answer(cycle.scope, bytes(cycle.body))
            except Exception:  # noqa: BLE001 - the ASGI call then serves it, and answers a 500 if it must
                reply = None
            if reply is None:
                self._start_waiting()
                return
            self._waiting = None
            self._cancel_body_timer()
            if isinstance(reply, asyncio.Future):  # run elsewhere: written when done
                reply.add_done_callback(functools.partial(self._write_when_done, cycle))
            else:
                self._write_reply(cycle, *reply)

    def _write_when_done(self, cycle, future: asyncio.Future) -> None:
        if cycle.disconnected or self.transport.is_closing():
            return  # the client left: nothing to write to (as for an ASGI send)
        try:
            reply = future.result()
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request a 500, never the connection
            body = _json_error("internal_error", f"{type(exc).__name__}: {exc}")
            reply = 500, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], body
        self._write_reply(cycle, *reply)

    def _start_waiting(self) -> None:
        """Start the waiting request's ASGI task (its body did not arrive within the grace: read under its deadline)."""
        self._cancel_body_timer()
        if self._waiting is not None:
            (cycle, app), self._waiting = self._waiting, None
            super()._start_asgi_task(cycle, app)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _write_reply(self, cycle, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """What uvicorn's cycle writes for ``http.response.start`` and ``.body``, as one write."""
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers + headers:
            name = name.lower()
            if name == b"connection" and b"close" in value.lower():
                cycle.keep_alive = False
            content += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive and (b"connection", b"close") not in headers:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body if cycle.scope["method"] != "HEAD" else b"")  # a HEAD reply's body is not sent
        cycle.response_started = cycle.response_complete = True
        cycle.message_event.set()
        self.transport.write_reply(b"".join(content))
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        if self._head_timer is None:  # a keep-alive connection's next request: its head has a deadline too
            self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self.transport.hold_next()
        self._reading_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._drain_timer is not None:  # the refused body has been read to its end: keep the connection
            self._drain_timer.cancel()
            self._drain_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            # answered before its body was read (a 413): read and drop the rest, for a bounded time
            self._drain_timer = self.loop.call_later(self.limits.drain_seconds, self.transport.close)

    def _arm_head_deadline(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.read_timeout, self._head_deadline_passed)

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self.transport.close()  # as nginx does on client_header_timeout: no reply to a client that is not there

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._drain_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._drain_timer = self._body_timer = None

    def _refuse(self, status: int, reason: str, error: str, message: str) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(_json_reply(status, reason, error, message))
            self.transport.close()


def _small_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """The request's Content-Length (as the parser accepted it) is at most HOLD_BYTES; False without one."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) <= HOLD_BYTES
    return False


def protocol_for(limits: Limits) -> type[DeadlineProtocol]:
    """A protocol class bound to one server's limits (uvicorn builds a protocol per connection from a class)."""
    return type("EndpointProtocol", (DeadlineProtocol,), {"limits": limits})


def raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one: each waiting client holds a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        except (ValueError, OSError):
            pass


class LoopServer:
    """An ASGI app served on a socket bound at construction (so port 0 gives its port at once).

    ``serve_forever`` / ``shutdown`` / ``server_close`` behave as socketserver's do, so callers run
    it in a thread the same way.
    """

    def __init__(self, address: tuple[str, int], app, limits: Limits, backlog: int = LISTEN_BACKLOG):
        raise_open_file_limit()
        self.limits = limits
        self.app = app
        self.backlog = backlog
        self.socket = socket.create_server(address, backlog=backlog)  # SO_REUSEADDR on POSIX
        self.server_address = self.socket.getsockname()
        self._uvicorn: uvicorn.Server | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()

    def serve_forever(self, poll_interval: float = 0.5) -> None:  # noqa: ARG002 - socketserver's signature
        config = uvicorn.Config(
            self.app, http=protocol_for(self.limits), loop="auto", lifespan="off", ws="none", interface="asgi3",
            log_config=None, log_level=logging.WARNING, access_log=False, server_header=False,
            proxy_headers=False, timeout_keep_alive=self.limits.keep_alive, backlog=self.backlog,
            timeout_graceful_shutdown=5)
        self._uvicorn = uvicorn.Server(config)
        self._done.clear()
        try:
            if not self._stop.is_set():
                self._uvicorn.run(sockets=[self.socket])
        finally:
            self._done.set()

    def shutdown(self) -> None:
        """Stop serving and wait until ``serve_forever`` has returned (in-flight requests finish first)."""
        self._stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        self._done.wait()

    def server_close(self) -> None:
        self.socket.close()

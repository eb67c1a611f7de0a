"""Requests that arrive whole in one read are answered by the transport at once, as the ASGI call answers them."""

import socket
import threading
import time

import numpy as np
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tests import support


def _exchange(server, *parts: bytes, pause: float = 0.0, limit: float = 5.0) -> bytes:
    """Send ``parts`` (``pause`` seconds apart, so each arrives in its own read) and read until the server closes
    (the last request asks it to)."""
    sock = socket.create_connection(server.server_address[:2], timeout=limit)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for index, part in enumerate(parts):
        if index and pause:
            time.sleep(pause)
        sock.sendall(part)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        raise AssertionError(f"the server did not close the connection: {b''.join(chunks)[:300]!r}") from None
    finally:
        sock.close()
    return b"".join(chunks)


def _request(method: str, path: str, body: bytes = b"", close: bool = True, **headers: str) -> bytes:
    fields = {"Host": "x", **({"Content-Length": str(len(body))} if method not in ("GET", "HEAD") else {}), **headers}
    if close:
        fields["Connection"] = "close"
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


def _without_date(reply: bytes) -> bytes:
    head, _, body = reply.partition(b"\r\n\r\n")
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"date:")) + b"\r\n\r\n" + body


REQUESTS = {
    "ping": lambda: _request("GET", "/ping"),
    "status page route missing": lambda: _request("GET", "/nowhere"),
    "HEAD": lambda: _request("HEAD", "/ping"),
    "method not allowed": lambda: _request("PUT", "/invocations", b"x"),
    "unknown POST route": lambda: _request("POST", "/nowhere", b"x", Content_Type="image/png"),
    "an image": lambda: _request("POST", "/invocations", support.random_png(seed=3), Content_Type="image/png"),
    "not an image": lambda: _request("POST", "/invocations", b"not a png", Content_Type="image/png"),
    "unsupported type": lambda: _request("POST", "/invocations", b"x", Content_Type="text/csv"),
    "runtime API, an image": lambda: _request("POST", "/endpoints/scones-endpoint/invocations",
                                              support.random_png(seed=4), Content_Type="image/png"),
    "runtime API, ModelError": lambda: _request("POST", "/endpoints/scones-endpoint/invocations", b"junk",
                                                Content_Type="image/png"),
    "runtime API, unknown endpoint": lambda: _request("POST", "/endpoints/elsewhere/invocations", b"x",
                                                      Content_Type="image/png"),
    "runtime API, unknown variant": lambda: _request(
        "POST", "/endpoints/scones-endpoint/invocations", support.random_png(seed=5), Content_Type="image/png",
        X_Amzn_SageMaker_Target_Variant="Nope"),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_a_whole_request_is_answered_as_the_asgi_call_answers_it(endpoint, monkeypatch, name):
    server, _, _ = endpoint
    monkeypatch.setattr(server, "_quick", lambda fleet: True)  # answered on the loop either way
    request = REQUESTS[name]()
    at_once = _exchange(server, request)
    monkeypatch.setattr(server, "answer_arrived", lambda scope, body: None)  # the ASGI call serves every request
    through_asgi = _exchange(server, request)
    assert at_once.startswith(b"HTTP/1.1 ") and b"\r\ndate: " in at_once, at_once[:200]
    assert _without_date(at_once) == _without_date(through_asgi)


def _recorded(monkeypatch, owner, name: str, note) -> list:
    """Wrap ``owner.name`` so that each call first appends ``note(*its arguments)`` to the list returned."""
    notes, original = [], getattr(owner, name)

    def wrapper(*args):
        notes.append(note(*args))
        return original(*args)

    monkeypatch.setattr(owner, name, wrapper)
    return notes


def _counting_tasks(monkeypatch) -> list:
    """The paths of the ASGI tasks started from now on."""
    return _recorded(monkeypatch, HttpToolsProtocol, "_start_asgi_task", lambda self, cycle, app: cycle.scope["path"])


def test_a_request_that_arrives_whole_costs_no_asgi_task_and_one_in_pieces_gets_its_task(endpoint, monkeypatch):
    server, _, _ = endpoint
    monkeypatch.setattr(server, "_quick", lambda fleet: True)
    started = _counting_tasks(monkeypatch)
    request = _request("POST", "/invocations", support.random_png(seed=6), Content_Type="image/png")
    whole = _exchange(server, request)
    assert whole.startswith(b"HTTP/1.1 200 ") and started == []
    head, _, body = request.partition(b"\r\n\r\n")
    in_pieces = _exchange(server, head + b"\r\n\r\n", body, pause=0.1)
    assert _without_date(in_pieces) == _without_date(whole)
    assert started == ["/invocations"], "a body still on its way is read by the ASGI call, under its deadline"


def test_a_small_body_that_arrives_after_its_head_is_waited_for_and_then_answered_at_once(endpoint, monkeypatch):
    """http.client (so botocore) writes a request's head and body separately: the body, close behind, is waited
    for (here a long grace, so the test does not race it), and the request costs no ASGI task."""
    from scones.serving import transport

    server, _, _ = endpoint
    monkeypatch.setattr(server, "_quick", lambda fleet: True)
    monkeypatch.setattr(transport, "BODY_GRACE_SECONDS", 5.0)
    started = _counting_tasks(monkeypatch)
    head, _, body = _request("POST", "/invocations", support.random_png(seed=6), Content_Type="image/png") \
        .partition(b"\r\n\r\n")
    reply = _exchange(server, head + b"\r\n\r\n", body[:100], body[100:], pause=0.1)
    assert reply.startswith(b"HTTP/1.1 200 ") and started == []
    large = support.random_png(size=160)  # over the hold (but one the loop may answer): its task starts at once
    assert len(large) > transport.HOLD_BYTES
    head, _, body = _request("POST", "/invocations", large, Content_Type="image/png").partition(b"\r\n\r\n")
    reply = _exchange(server, head + b"\r\n\r\n", body, pause=0.1)
    assert reply.startswith(b"HTTP/1.1 200 ") and started == ["/invocations"]


def _invocations_on(server, monkeypatch) -> list[str]:
    """The names of the threads the server's invocations run on, from now on."""
    return _recorded(monkeypatch, server, "_invoke", lambda *args: threading.current_thread().name)


def test_a_large_image_goes_to_a_worker_and_its_reply_is_written_when_done(endpoint, monkeypatch):
    """Only what the loop may answer is answered there: a big image runs on a worker, still without an ASGI task."""
    from common.imaging import encode_png

    server, _, _ = endpoint
    monkeypatch.setattr(server, "_quick", lambda fleet: True)
    started = _counting_tasks(monkeypatch)
    threads = _invocations_on(server, monkeypatch)
    big = encode_png(np.zeros((600, 600, 3), dtype=np.uint8))  # a few KB, arriving whole, over the inline pixels
    reply = _exchange(server, _request("POST", "/invocations", big, Content_Type="image/png"))
    assert reply.startswith(b"HTTP/1.1 200 ") and started == []
    assert len(threads) == 1 and threads[0].startswith("endpoint-worker")
    small = _exchange(server, _request("POST", "/invocations", support.random_png(seed=9), Content_Type="image/png"))
    assert small.startswith(b"HTTP/1.1 200 ") and not threads[1].startswith("endpoint-worker"), \
        "the worker's request was counted out of flight when done: the next small one is answered on the loop again"


def test_a_client_that_leaves_while_a_worker_runs_its_request_costs_nothing_after(endpoint, monkeypatch):
    server, _, _ = endpoint
    release = threading.Event()
    invoke = server._invoke

    def slow(*args):
        release.wait(5)
        return invoke(*args)

    monkeypatch.setattr(server, "_invoke", slow)
    monkeypatch.setattr(server, "_inline", lambda *args: False)
    sock = socket.create_connection(server.server_address[:2], timeout=5)
    sock.sendall(_request("POST", "/invocations", support.random_png(seed=10), Content_Type="image/png"))
    time.sleep(0.2)
    sock.close()  # gone before its reply
    release.set()
    reply = _exchange(server, _request("POST", "/invocations", support.random_png(seed=11), Content_Type="image/png"))
    assert reply.startswith(b"HTTP/1.1 200 ")
    deadline = time.monotonic() + 5
    while server._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server._in_flight == 0


def test_a_worker_that_fails_to_reply_costs_its_request_a_500_and_the_connection_serves_on(endpoint, monkeypatch):
    server, _, _ = endpoint
    monkeypatch.setattr(server, "_inline", lambda *args: False)
    invoke = server._invoke
    calls = []

    def broken_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug past the handler's own catch")
        return invoke(*args)

    monkeypatch.setattr(server, "_invoke", broken_once)
    image = support.random_png(seed=12)
    reply = _exchange(server, _request("POST", "/invocations", image, close=False, Content_Type="image/png"),
                      _request("POST", "/invocations", image, Content_Type="image/png"), pause=0.2)
    assert [status for status, _ in _replies(reply)] == [500, 200]
    assert b"RuntimeError" in _replies(reply)[0][1]


def test_keep_alive_and_pipelined_whole_requests_are_answered_in_order(endpoint, monkeypatch):
    server, _, _ = endpoint
    monkeypatch.setattr(server, "_quick", lambda fleet: True)
    image = support.random_png(seed=7)
    requests = [_request("POST", "/invocations", image, close=False, Content_Type="image/png"),
                _request("GET", "/ping", close=False),
                _request("POST", "/invocations", b"junk", close=False, Content_Type="image/png"),
                _request("GET", "/ping", close=True)]
    one_by_one = _exchange(server, *requests, pause=0.05)
    pipelined = _exchange(server, b"".join(requests))  # all four in one read
    for reply in (one_by_one, pipelined):
        assert [status for status, _ in _replies(reply)] == [200, 200, 400, 200], reply[:600]
    assert [body for _, body in _replies(one_by_one)] == [body for _, body in _replies(pipelined)]


def _replies(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each reply in a connection's bytes, framed by Content-Length; nothing may be left over."""
    replies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.startswith(b"content-length")))
        replies.append((int(head.split(b" ")[1]), rest[:length]))
        data = rest[length:]
    return replies


def test_an_app_that_fails_to_answer_at_once_leaves_the_request_to_the_asgi_call(endpoint, monkeypatch):
    server, _, _ = endpoint

    def broken(scope, body):
        raise RuntimeError("a bug in the quick path")

    monkeypatch.setattr(server, "answer_arrived", broken)
    reply = _exchange(server, _request("POST", "/invocations", support.random_png(seed=8), Content_Type="image/png"))
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


class _App:
    async def __call__(self, scope, receive, send):
        raise AssertionError("not run in this test")

    def answer_arrived(self, scope, body):
        return 200, [(b"content-type", b"application/json"), (b"content-length", b"2")], b"[]"


def _protocol(monkeypatch):
    """The endpoint's protocol on a connection of its own, its app answering ``[]`` at once; (protocol, transport,
    the paths of the ASGI tasks started)."""
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from scones.serving.transport import Limits, protocol_for

    started = []
    monkeypatch.setattr(HttpToolsProtocol, "_start_asgi_task", lambda self, cycle, app: started.append(cycle))
    config = uvicorn.Config(_App(), http=protocol_for(Limits(read_timeout=5)), lifespan="off", ws="none",
                            log_config=None, interface="asgi3", proxy_headers=False)
    config.load()
    loop = asyncio.new_event_loop()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = support.RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport, started, loop


def test_a_client_that_does_not_read_its_replies_gets_none_written_at_once(monkeypatch):
    """Replies to a client whose transport is paused for writing wait in the ASGI call (which waits for the
    transport to drain), so a client that sends and never reads cannot grow the endpoint's write buffer."""
    protocol, transport, started, loop = _protocol(monkeypatch)
    try:
        request = _request("GET", "/ping", close=False)
        protocol.data_received(request)
        assert transport.sends[-1].endswith(b"\r\n\r\n[]") and started == [], "answered at once"
        protocol.pause_writing()
        protocol.data_received(request)
        assert len(transport.sends) == 1 and len(started) == 1, "left to the ASGI call"
    finally:
        loop.close()

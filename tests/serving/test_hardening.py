"""The endpoint against bursts and hostile clients, spoken to over raw sockets (bounded counts and waits)."""

import socket
import threading
import time

import pytest

from tests import support

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _connect(server, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(server.server_address[:2], timeout=timeout)
    return sock


def _read_all(sock: socket.socket, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else 0


def test_endpoint_burst_of_1000_connections_all_answered(endpoint):
    server, _, _ = endpoint
    sockets = [_connect(server) for _ in range(1000)]
    for sock in sockets:
        sock.sendall(PING)
    statuses = [_status(_read_all(sock)) for sock in sockets]
    for sock in sockets:
        sock.close()
    assert len(statuses) == 1000
    assert set(statuses) <= {200, 503}, "every connection gets an answer: served, or told the server is busy"
    assert statuses.count(200) >= 900


def _post(body: bytes = b"x") -> bytes:
    return (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


def test_endpoint_saturated_answers_503_at_once_and_ping_stays_up(endpoint, monkeypatch):
    """Every worker busy on a slow model: a new invocation is refused at once; /ping is answered anyway."""
    server, _, _ = endpoint
    release, entered = threading.Event(), threading.Event()

    def slow_model(*args):
        entered.set()
        release.wait(10)
        raise AssertionError("released")

    monkeypatch.setattr(server, "_predict", slow_model)
    monkeypatch.setattr(server, "capacity", 1)
    holder = _connect(server)
    holder.sendall(_post())
    assert entered.wait(5)
    try:
        started = time.monotonic()
        other = _connect(server)
        other.sendall(_post())
        reply = _read_all(other)
        assert _status(reply) == 503 and b"server_busy" in reply and b"retry-after: 1" in reply.lower()
        ping = _connect(server)
        ping.sendall(PING)
        assert _status(_read_all(ping)) == 200
        assert time.monotonic() - started < 2
        assert server.status()["refused_busy"] == 1
    finally:
        release.set()
    assert _status(_read_all(holder)) == 500, "the held request is answered once its model returns"


def _trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Slowloris: one more header line a second on every connection, never the blank line."""
    while not stop.wait(1.0):
        for sock in sockets:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass


def test_endpoint_slow_and_idle_connections_cost_no_worker(endpoint):
    """300 slowloris and 300 silent connections held open: ordinary requests are answered within 1 s each."""
    from common.imaging import encode_png

    server, _, _ = endpoint
    png = encode_png(__import__("numpy").zeros((32, 32, 3), dtype="uint8"))
    slow = [_connect(server) for _ in range(300)]
    for sock in slow:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
    idle = [_connect(server) for _ in range(300)]
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
    trickler.start()
    try:
        time.sleep(1.5)  # every hostile connection is accepted and waiting
        for request in [PING, _post(png)] * 20:
            started = time.monotonic()
            sock = _connect(server, timeout=1.0)
            sock.sendall(request)
            reply = _read_all(sock, limit=1.0)
            sock.close()
            assert _status(reply) == 200, reply[:200]
            assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        trickler.join()
        for sock in slow + idle:
            sock.close()


def test_endpoint_cuts_off_a_trickled_head_at_its_deadline(endpoint):
    """The head's deadline is for the whole head: a header line every 0.2 s does not extend it."""
    server, _, _ = endpoint
    server.read_timeout = 1.0
    sock = _connect(server)
    sock.sendall(b"GET /ping HTTP/1.1\r\n")
    started, closed = time.monotonic(), False
    while time.monotonic() - started < 4:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed = True
            break
        time.sleep(0.2)
    assert closed or _read_all(sock, limit=1.0) == b""
    assert time.monotonic() - started < 3
    sock.close()


def test_endpoint_refuses_an_endless_head_with_431(endpoint):
    server, _, _ = endpoint
    sock = _connect(server)
    sock.sendall(b"GET /ping HTTP/1.1\r\n" + b"X-Big: " + b"a" * 100_000)
    reply = _read_all(sock)
    assert _status(reply) == 431 and b"headers_too_large" in reply
    sock.close()


def test_endpoint_oversize_body_client_reads_the_413_and_the_connection_serves_on(endpoint):
    """The client sends all 7 MB and reads a 413, not a reset; the refused body is read and dropped,
    so the same connection then gets its next answer."""
    server, _, _ = endpoint
    sock = _connect(server)
    body = b"\0" * (7 * 1024 * 1024)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body + PING)
    reply = _read_all(sock)
    assert _status(reply) == 413 and b"payload_too_large" in reply
    assert b"HTTP/1.1 200" in reply and b"healthy" in reply
    sock.close()


def test_endpoint_negative_content_length_is_refused_unread(endpoint):
    server, _, _ = endpoint
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: -1\r\n\r\n"
                 + b"\0" * 1000)
    reply = _read_all(sock)
    assert _status(reply) == 400 and b"Content-Length" in reply and b"malformed HTTP request" in reply
    sock.close()


def test_endpoint_missing_content_length_is_411(endpoint):
    server, _, _ = endpoint
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\r\n")
    reply = _read_all(sock)
    assert _status(reply) == 411
    sock.close()


@pytest.mark.parametrize("head", [b"GET /pi", b""], ids=["slow headers", "silent connection"])
def test_endpoint_cuts_off_a_head_that_does_not_arrive(endpoint, head):
    """Slow or silent, a client holds its descriptor for read_timeout seconds, no longer, and gets no reply."""
    server, _, _ = endpoint
    server.read_timeout = 0.5
    sock = _connect(server)
    sock.sendall(head)
    started = time.monotonic()
    assert _read_all(sock, limit=5.0) == b"", "the connection is closed without a reply"
    assert time.monotonic() - started < 3
    sock.close()


def test_endpoint_stalled_body_gets_408(endpoint):
    server, _, _ = endpoint
    server.read_timeout = 0.5
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n"
                 + b"\x89PNG")
    started = time.monotonic()
    reply = _read_all(sock, limit=5.0)
    assert _status(reply) == 408 and b"stalled" in reply
    assert time.monotonic() - started < 3
    sock.close()


def test_endpoint_keeps_answering_ping_after_hostile_clients(endpoint):
    server, _, _ = endpoint
    server.read_timeout = 0.5
    hostile = [_connect(server) for _ in range(50)]
    for sock in hostile:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
    for _ in range(5):
        sock = _connect(server)
        sock.sendall(PING)
        assert _status(_read_all(sock)) == 200
        sock.close()
    for sock in hostile:
        sock.close()


def test_endpoint_drains_a_refused_body_for_a_bounded_time(endpoint):
    """A client that declared 50 MB, got its 413 and keeps the connection open is closed after the drain."""
    server, _, _ = endpoint
    server.limits.drain_seconds = 0.5
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 b"Content-Length: 50000000\r\n\r\n" + b"\0" * 100_000)
    started = time.monotonic()
    reply = _read_all(sock, limit=5.0)
    assert _status(reply) == 413
    assert time.monotonic() - started < 3, "closed after the drain, not held open"
    sock.close()


def test_a_client_that_expects_100_continue_gets_it_before_sending_the_body(endpoint):
    """The reply's head is held until its body (one send per reply), but 100 Continue goes out at once."""
    server, _, _ = endpoint
    body = support.random_png()
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nExpect: 100-continue\r\n"
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
    sock.settimeout(5)
    assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "the client waits for this to send"
    sock.sendall(body)
    reply = _read_all(sock)
    sock.close()
    assert _status(reply) == 200 and reply.rstrip().endswith(b"]")


def test_a_reply_is_one_send_and_a_held_head_is_not_lost_on_close():
    from scones.serving.transport import _OneSendPerReply

    raw = support.RecordingTransport()
    transport = _OneSendPerReply(raw)
    transport.hold_next()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert raw.sends == [], "the head waits for its body"
    transport.write(b"[]")
    assert raw.sends == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]"]
    transport.write(b"more")  # nothing held: straight through
    transport.hold_next()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert raw.sends[-1] == b"HTTP/1.1 100 Continue\r\n\r\n", "never held: the client waits for it"
    transport.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    transport.close()
    assert raw.sends[-1].startswith(b"HTTP/1.1 500") and raw.closed and transport.is_closing()


@pytest.mark.parametrize("length", [16, 20, 28])
def test_a_png_cut_inside_its_header_is_the_handlers_400_not_a_crash(endpoint, length, monkeypatch):
    """The check for answering on the loop reads the PNG header's size in place; a body that ends inside it goes
    to the handler, which says what is wrong with it."""
    server, _, _ = endpoint
    # the check runs for a version known to be quick: made so here, as a loaded test machine may not measure it so
    monkeypatch.setattr(server, "_quick", lambda fleet: True)
    sock = _connect(server)
    sock.sendall(_post(support.random_png()[:length]))
    reply = _read_all(sock)
    sock.close()
    assert _status(reply) == 400 and b"invalid_image" in reply, reply[:300]

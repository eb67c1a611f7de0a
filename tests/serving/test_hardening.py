"""The endpoint against bursts and hostile clients, spoken to over raw sockets (bounded counts and waits)."""

import socket
import threading
import time

import pytest

from scones.serving.server import EndpointServer

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


@pytest.fixture
def bare_server():
    """An endpoint with no model and a tiny pool: one worker, no queue."""
    servers = []

    def make(**kwargs) -> EndpointServer:
        server = EndpointServer(("127.0.0.1", 0), "scones-endpoint", **kwargs)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


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


def test_endpoint_saturated_answers_503_at_once(bare_server):
    server = bare_server(workers=1, pending=0, read_timeout=5.0)
    holder = _connect(server)
    holder.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")  # holds the only worker
    time.sleep(0.2)
    started = time.monotonic()
    other = _connect(server)
    other.sendall(PING)
    reply = _read_all(other)
    assert _status(reply) == 503 and b"server_busy" in reply and b"Retry-After: 1" in reply
    assert time.monotonic() - started < 2
    holder.close()
    other.close()


def test_endpoint_negative_content_length_is_refused_unread(endpoint):
    server, _, _ = endpoint
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: -1\r\n\r\n"
                 + b"\0" * 1000)
    reply = _read_all(sock)
    assert _status(reply) == 400 and b"non-negative integer" in reply
    sock.close()


def test_endpoint_missing_content_length_is_411(endpoint):
    server, _, _ = endpoint
    sock = _connect(server)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\r\n")
    reply = _read_all(sock)
    assert _status(reply) == 411
    sock.close()


def test_endpoint_slow_headers_are_cut_off(endpoint):
    server, _, _ = endpoint
    server.read_timeout = 0.5
    sock = _connect(server)
    sock.sendall(b"GET /pi")
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


def test_endpoint_oversize_body_client_reads_the_413(endpoint):
    """The client sends all 7 MB and then reads a 413, not a broken pipe or a reset."""
    server, _, _ = endpoint
    sock = _connect(server)
    body = b"\0" * (7 * 1024 * 1024)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    reply = _read_all(sock)
    assert _status(reply) == 413 and b"payload_too_large" in reply
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

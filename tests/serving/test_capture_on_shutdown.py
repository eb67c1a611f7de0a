"""Answered requests are in the capture after the endpoint stops: all of them on SIGTERM, all but the
ones still queued for the writer on SIGKILL."""

import signal

import pytest

from scones.commands.demo import start_endpoint
from scones.monitor.capture_reader import read_capture
from scones.serving.client import runtime_client
from scones.serving.run import DEFAULT_ENDPOINT, capture_root, read_state
from tests import support


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_answered_requests_are_captured_when_the_endpoint_stops(served, stop):
    process = start_endpoint(served)
    try:
        client = runtime_client(read_state(served, DEFAULT_ENDPOINT)["url"])
        answered = 0
        for seed in range(40):
            client.invoke_endpoint(EndpointName=DEFAULT_ENDPOINT, ContentType="image/png",
                                   Body=support.random_png(seed=seed))
            answered += 1
    finally:
        process.send_signal(stop)
        process.wait(timeout=30)
    captured = read_capture(capture_root(served) / DEFAULT_ENDPOINT).predictions
    assert answered == 40
    if stop == signal.SIGTERM:
        assert len(captured) == 40, "a stopped endpoint flushes every answered request"
    else:  # records go to the file one by one; a kill can only take the one still queued (one client: one)
        assert 39 <= len(captured) <= 40

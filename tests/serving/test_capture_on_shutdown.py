"""Answered requests are in the capture after the endpoint stops, on SIGTERM and on SIGKILL: each record is in
the capture process's pipe before its reply leaves."""

import signal
import time

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
    # a stopped endpoint waits for its capture process; a killed one leaves it to write what its pipe holds
    deadline = time.monotonic() + (0 if stop == signal.SIGTERM else 20)
    while len(captured := read_capture(capture_root(served) / DEFAULT_ENDPOINT).predictions) < 40 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answered == 40
    assert len(captured) == 40, "every answered request, whether the endpoint was stopped or killed"

"""The endpoint's capture written by a process of its own: the same records as the in-process writer, per
variant, durable across a Ctrl-C meant for the endpoint, and a capture process that dies is replaced."""

import json
import os
import signal

import pytest

from scones.serving.capture import CaptureProcess, CaptureWriter
from tests import support


def _lines(folder):
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def _record(writer, seed: int) -> None:
    writer.record("image/png", support.random_png(seed=seed), "application/json", b"[0.25, 0.75]",
                  eventId=f"event-{seed}", inferenceId=f"photo-{seed}", modelVersion="3")


@pytest.fixture
def capture(tmp_path):
    writer = CaptureProcess(tmp_path / "capture", "scones-endpoint", "AllTraffic")
    yield writer
    writer.close()


def test_records_are_those_the_in_process_writer_writes_in_each_variants_folder(tmp_path, capture):
    canary = capture.sibling("canary")
    for seed in range(3):
        _record(capture, seed)
    _record(canary, 9)
    capture.flush()
    reference = CaptureWriter(tmp_path / "reference", "scones-endpoint", "AllTraffic")
    for seed in range(3):
        _record(reference, seed)
    reference.close()

    def comparable(record):
        record["eventMetadata"].pop("inferenceTime")
        return record

    written = _lines(capture.folder)
    assert [comparable(r) for r in written] == [comparable(r) for r in _lines(reference.folder)]
    assert [r["eventMetadata"]["inferenceId"] for r in written] == ["photo-0", "photo-1", "photo-2"]
    assert [r["eventMetadata"]["eventId"] for r in _lines(canary.folder)] == ["event-9"]
    assert canary.pid == capture.pid, "one process for the endpoint's variants"


def test_a_ctrl_c_meant_for_the_endpoint_does_not_stop_its_capture(capture):
    _record(capture, 0)
    capture.flush()
    os.kill(capture.pid, signal.SIGINT)
    os.kill(capture.pid, signal.SIGTERM)
    for seed in range(1, 4):
        _record(capture, seed)
    capture.close()  # what is queued is written, then the process stops at the end of its input
    assert len(_lines(capture.folder)) == 4 and capture._channel.restarts == 0


def test_a_capture_process_that_dies_is_replaced_and_later_records_are_written(capture):
    _record(capture, 0)
    capture.flush()
    first = capture.pid
    os.kill(first, signal.SIGKILL)
    capture._channel._process.wait()
    for seed in range(1, 3):
        _record(capture, seed)
    capture.flush()
    assert capture.pid != first and capture._channel.restarts == 1
    assert [r["eventMetadata"]["eventId"] for r in _lines(capture.folder)] == ["event-0", "event-1", "event-2"]

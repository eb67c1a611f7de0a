"""The endpoint's capture written by a process of its own: the same records as the in-process writer, per
variant, durable across a Ctrl-C meant for the endpoint, and a capture process that dies is replaced."""

import base64
import datetime as dt
import json
import os
import signal
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.capture import capture_line, capture_record
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


_TYPES = st.sampled_from(["image/png", "application/json", "Application/JSON; charset=utf-8", "application/x-npy",
                          'text/"odd"\\type', "image/é"])
_BODIES = st.binary(max_size=200) | st.text(max_size=200).map(str.encode)  # JSON bodies: quotes, controls, unicode
_METADATA = st.dictionaries(st.sampled_from(["eventId", "inferenceId", "modelVersion", "note\"x"]),
                            st.text(max_size=20) | st.integers(), max_size=4)


@settings(max_examples=300, deadline=None)
@given(input_type=_TYPES, body=_BODIES, output_type=_TYPES, output=_BODIES, metadata=_METADATA,
       micros=st.integers(0, 999_999))
def test_a_capture_line_is_the_record_as_json_dumps_writes_it(input_type, body, output_type, output, metadata,
                                                              micros):
    """The capture process builds each line around its payloads; the text is json.dumps of the record."""
    when = dt.datetime(2026, 12, 3, 14, 5, 6, micros, tzinfo=dt.UTC)
    metadata = {"eventId": "fixed", **metadata}  # the record's own eventId is random
    assert capture_line(input_type, body, output_type, output, when, metadata) == \
        json.dumps(capture_record(input_type, body, output_type, output, when, metadata))


@pytest.mark.skipif(sys.platform != "linux", reason="a pipe's size is set with Linux's F_SETPIPE_SZ")
def test_records_go_into_the_pipe_at_once_while_the_capture_process_is_not_reading(capture):
    """Each record is written into the pipe by the thread that recorded it (Linux's default pipe holds 64 KB; this
    one 1 MB): nothing waits in the endpoint, so a SIGKILL of the endpoint loses none of them."""
    _record(capture, 0)
    capture.flush()
    os.kill(capture.pid, signal.SIGSTOP)
    try:
        for seed in range(1, 101):  # about 300 KB pickled
            _record(capture, seed)
        assert capture._channel.waiting_bytes == 0, "records held in the endpoint's memory"
    finally:
        os.kill(capture.pid, signal.SIGCONT)
    capture.flush()
    assert len(_lines(capture.folder)) == 101


def test_records_beyond_the_pipes_room_wait_in_order_and_are_written_when_it_reads_again(capture):
    _record(capture, 0)
    capture.flush()
    os.kill(capture.pid, signal.SIGSTOP)
    big = os.urandom(200_000)  # incompressible: 2 MB in all, more than the pipe holds
    try:
        for seed in range(1, 11):
            capture.record("image/png", big, "application/json", b"[0.5, 0.5]", eventId=f"event-{seed}")
            _record(capture, 100 + seed)  # small ones behind the big ones must not overtake them
        assert capture._channel.waiting_bytes > 0, "the pipe took more than it can hold"
    finally:
        os.kill(capture.pid, signal.SIGCONT)
    for seed in range(200, 400):  # recorded while what waits is being sent: behind it, never into it
        _record(capture, seed)
    capture.flush(20)
    events = [r["eventMetadata"]["eventId"] for r in _lines(capture.folder)]
    assert events == ["event-0"] + [e for seed in range(1, 11) for e in (f"event-{seed}", f"event-{100 + seed}")] \
        + [f"event-{seed}" for seed in range(200, 400)]
    assert capture._channel.waiting_bytes == 0 and capture._channel.restarts == 0


def test_a_record_cut_off_by_a_dying_capture_process_is_sent_whole_to_the_next(capture):
    """A frame half in the pipe of a process that then dies goes again, whole, to its replacement."""
    _record(capture, 0)
    capture.flush()
    first = capture.pid
    os.kill(first, signal.SIGSTOP)
    big = os.urandom(1_500_000)  # more than the pipe holds: part of it is written, the rest waits
    capture.record("image/png", big, "application/json", b"[0.5, 0.5]", eventId="big")
    _record(capture, 1)
    assert 0 < capture._channel.waiting_bytes
    os.kill(first, signal.SIGKILL)
    capture.flush(20)
    assert capture.pid != first and capture._channel.restarts == 1
    lines = _lines(capture.folder)
    assert [r["eventMetadata"]["eventId"] for r in lines][-2:] == ["big", "event-1"]
    assert lines[-2]["captureData"]["endpointInput"]["data"] == base64.b64encode(big).decode()

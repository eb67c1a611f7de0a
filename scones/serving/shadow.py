"""A shadow variant: a candidate answers copies of live requests off the request path, and only capture sees it.

The client's answer is sent before the shadow starts: a request is handed over as its bytes
(the shadow decodes them itself, as SageMaker's shadow container receives the same request), on a
bounded queue. The shadow runs on one thread at the lowest CPU priority with a single-threaded
model, so on a busy machine the live model wins the cores; when the queue is full a copy is
skipped and counted, never waited for. Each answer is captured under the shadow's variant with
the live record's ``eventId`` (and ``inferenceId``), which is how agreement is measured.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from dataclasses import dataclass

from scones.serving.capture import CaptureWriter
from scones.serving.routing import Fleet
from training import inference

#: Copies waiting for the shadow; beyond it, a copy is skipped.
QUEUE_LIMIT = 256


@dataclass
class ShadowCounts:
    answered: int = 0
    failed: int = 0
    skipped: int = 0


class ShadowRunner:
    def __init__(self, fleet: Fleet, capture: CaptureWriter | None):
        self.fleet = fleet
        self.capture = capture
        self.counts = ShadowCounts()
        self._offered = 0
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name=f"shadow-{fleet.variant}", daemon=True)
        self._thread.start()

    def offer(self, body: bytes, content_type: str, accept: str, metadata: dict) -> None:
        """Queue a copy of a request the live model answered (never blocks)."""
        try:
            self._queue.put_nowait((body, content_type, accept, metadata))
        except queue.Full:
            self.counts.skipped += 1
        else:
            self._offered += 1

    def _run(self) -> None:
        try:  # lowest priority for this thread only (Linux: a thread is a task with its own nice value)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        model, version = self.fleet.deployment.model, str(self.fleet.deployment.version.version)
        while (item := self._queue.get()) is not None:
            body, content_type, accept, metadata = item
            try:
                output, output_type = inference.output_fn(
                    inference.predict_fn(inference.input_fn(body, content_type), model), accept)
            except inference.InferenceError as error:
                output, output_type = error.to_json(), "application/json"
                self.counts.failed += 1
            except Exception as exc:  # noqa: BLE001 - a failing candidate is a finding, not a crash
                output = json.dumps({"error": "internal_error", "message": f"{type(exc).__name__}: {exc}"}).encode()
                output_type = "application/json"
                self.counts.failed += 1
            else:
                self.counts.answered += 1
            if self.capture is not None:
                self.capture.record(content_type, body, output_type, output, **metadata, modelVersion=version)

    def status(self) -> dict:
        return {"variant": self.fleet.variant, "version": self.fleet.deployment.version.version,
                "share": self.fleet.weight, "since": self.fleet.deployment.since, "answered": self.counts.answered,
                "failed": self.counts.failed, "skipped": self.counts.skipped, "waiting": self._queue.qsize()}

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until the queued copies are answered (tests, and a clean stop)."""
        import time

        deadline = time.monotonic() + timeout
        while self.counts.answered + self.counts.failed < self._offered and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.capture is not None:
            self.capture.flush()

    def stop(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

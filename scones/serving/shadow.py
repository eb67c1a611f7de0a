"""A shadow variant: a candidate answers copies of live requests off the request path, and only capture sees it.

The client's answer is sent before the copy leaves: a request is handed over as its bytes (the
shadow decodes them itself, as SageMaker's shadow container receives the same request) on a
bounded queue, which a feeder thread writes to the shadow's own process
(:mod:`scones.serving.shadow_worker`: one model thread, idle CPU priority), one copy at a time and
only once the endpoint has had no live request for :data:`IDLE_SECONDS`: a shadow yields to live
traffic. SageMaker gives a shadow its own instances; on one machine it has to share the cores, and
measured on 2 cores a shadow working beside live requests cost them +0.26 ms p50 and +90 % p99 on a
thread of the endpoint (the interpreter lock), still +40 % p99 in its own process at the lowest
priority (the cores themselves). Under continuous load the shadow therefore samples -- at least one
copy every :data:`MIN_INTERVAL` seconds, so a busy endpoint is still shadowed, a trickle small enough
that the live requests it overlaps stay well under 1 % (the ones p99 is made of) once traffic leaves
no 5 ms gaps -- and a copy that finds the queue full is skipped and counted, never waited for.
Each answer is captured under the shadow's variant with the live record's ``eventId`` (and
``inferenceId``), which is how agreement is measured.
"""

from __future__ import annotations

import json
import queue
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from scones.serving.routing import Fleet

#: Copies waiting for the shadow; beyond it, a copy is skipped.
QUEUE_LIMIT = 256
#: The shadow gets the next copy only after the endpoint has been this long without a live request ...
IDLE_SECONDS = 0.005
#: ... or after this long without a copy, however busy the endpoint is.
MIN_INTERVAL = 1.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ShadowCounts:
    answered: int = 0
    failed: int = 0
    skipped: int = 0


class ShadowRunner:
    def __init__(self, fleet: Fleet, capture_folder: Path | None, idle_for=lambda: float("inf"),
                 min_interval: float = MIN_INTERVAL):
        """``idle_for()``: seconds since the endpoint last had a live request in flight (0 while one is)."""
        self.fleet = fleet
        self.min_interval = min_interval
        self.counts = ShadowCounts()
        self._idle_for = idle_for
        self._sent = 0
        self._offered = 0  # copies accepted onto the queue
        self._lost = 0  # accepted, then dropped: the process died, or the shadow stopped first
        self._answered = threading.Condition()
        self._stopping = False
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "scones.serving.shadow_worker", str(fleet.deployment.model.model_dir),
             str(capture_folder or ""), str(fleet.deployment.version.version)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=False)
        self._feeder = threading.Thread(target=self._feed, name=f"shadow-{fleet.variant}-feeder", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"shadow-{fleet.variant}-reader", daemon=True)
        self._feeder.start()
        self._reader.start()

    def offer(self, body: bytes, content_type: str, accept: str, metadata: dict) -> None:
        """Queue a copy of a request the live model answered (never blocks)."""
        try:
            self._queue.put_nowait((body, content_type, accept, metadata))
        except queue.Full:
            self.counts.skipped += 1
        else:
            self._offered += 1

    def _feed(self) -> None:
        stdin = self._process.stdin
        last = time.monotonic()
        while (item := self._queue.get()) is not None:
            while not self._stopping and self._idle_for() < IDLE_SECONDS \
                    and time.monotonic() - last < self.min_interval:  # live traffic first
                time.sleep(IDLE_SECONDS)
            last = time.monotonic()
            body, content_type, accept, metadata = item
            header = json.dumps({"content_type": content_type, "accept": accept, "metadata": metadata,
                                 "length": len(body)}).encode()
            try:
                stdin.write(struct.pack(">I", len(header)) + header + body)
                stdin.flush()
            except (BrokenPipeError, ValueError, OSError):  # the shadow died: what is left is skipped
                self.counts.skipped += 1
                self._lost += 1
                continue
            self._sent += 1
            with self._answered:  # one copy at a time: a live request waits for at most one shadow answer
                self._answered.wait_for(lambda: self.counts.answered + self.counts.failed >= self._sent
                                        or self._process.poll() is not None, timeout=5.0)
        try:
            stdin.close()
        except OSError:
            pass

    def _read(self) -> None:
        for line in self._process.stdout:
            parts = line.split()
            if len(parts) == 2:
                with self._answered:
                    self.counts.answered, self.counts.failed = int(parts[0]), int(parts[1])
                    self._answered.notify_all()
        with self._answered:  # the process ended: nobody waits for an answer that will not come
            self._answered.notify_all()

    def status(self) -> dict:
        return {"variant": self.fleet.variant, "version": self.fleet.deployment.version.version,
                "share": self.fleet.weight, "since": self.fleet.deployment.since, "answered": self.counts.answered,
                "failed": self.counts.failed, "skipped": self.counts.skipped, "waiting": self._queue.qsize(),
                "running": self._process.poll() is None}

    def drain(self, timeout: float = 20.0) -> None:
        """Wait until every copy queued so far is answered and captured (tests, and a clean stop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.counts.answered + self.counts.failed + self._lost < self._offered:
            time.sleep(0.01)

    def stop(self) -> None:
        """Discard what waits, end the shadow's process after the copy in hand."""
        self._stopping = True
        while True:
            try:
                if self._queue.get_nowait() is not None:
                    self.counts.skipped += 1
                    self._lost += 1
            except queue.Empty:
                break
        self._queue.put(None)

    def wait(self, timeout: float = 10.0) -> None:
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()

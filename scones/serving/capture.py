"""Data capture in SageMaker's format: JSON Lines, one object per request, hourly folders.

``<root>/<endpoint>/<variant>/YYYY/MM/DD/HH/<minute-second>-<uuid>.jsonl``, each line::

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                     "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
     "eventMetadata": {"eventId", "inferenceTime", "inferenceId"}, "eventVersion": "0"}

Writing happens on a background thread, so a request never waits for the disk; the thread wakes at most
every :data:`LINGER_SECONDS` and writes what gathered meanwhile in one go.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import uuid
from pathlib import Path

from common.capture import capture_record

#: Seconds the writer lets records gather after the first before it writes them all, with one flush. Why: a
#: thread woken for every request costs the event loop about as much as answering one (measured: p50 0.72 ->
#: 0.86 ms per small request with capture on); gathered, it wakes 20 times a second. A SIGKILL loses at most this.
LINGER_SECONDS = 0.005


class CaptureWriter:
    def __init__(self, root: Path, endpoint: str, variant: str = "AllTraffic"):
        self.folder = Path(root) / endpoint / variant
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def record(self, input_type: str, body: bytes, output_type: str, output: bytes, **metadata) -> None:
        self._queue.put((dt.datetime.now(dt.UTC), input_type, body, output_type, output, metadata))

    def _path(self, when: dt.datetime) -> Path:
        hour = self.folder / when.strftime("%Y/%m/%d/%H")
        hour.mkdir(parents=True, exist_ok=True)
        return hour / f"{when.strftime('%M-%S-%f')}-{uuid.uuid4().hex[:8]}.jsonl"

    def _run(self) -> None:
        current_hour, handle, running = None, None, True
        while running:
            items = [self._queue.get()]
            if items[0] is not None:
                time.sleep(LINGER_SECONDS)
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                if item is None:
                    running = False
                    continue
                when, input_type, body, output_type, output, metadata = item
                if when.strftime("%Y%m%d%H") != current_hour:
                    if handle:
                        handle.close()
                    current_hour, handle = when.strftime("%Y%m%d%H"), open(self._path(when), "a", encoding="utf-8")
                handle.write(json.dumps(capture_record(input_type, body, output_type, output, when, metadata)) + "\n")
            if handle:
                handle.flush()  # the gathered records reach the OS at once
            for _ in items:
                self._queue.task_done()
        if handle:
            handle.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything recorded so far is on disk."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


"""Data capture in SageMaker's format: JSON Lines, one object per request, hourly folders.

``<root>/<endpoint>/<variant>/YYYY/MM/DD/HH/<minute-second>-<uuid>.jsonl``, each line::

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                     "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
     "eventMetadata": {"eventId", "inferenceTime", "inferenceId"}, "eventVersion": "0"}

A request never waits for the disk: :meth:`Capture.record` queues the record and returns. A
background thread wakes at most every :data:`LINGER_SECONDS` and handles what gathered meanwhile
in one go. Two writers share that:

- :class:`CaptureWriter` turns records into JSON lines on that thread (a process that does little
  else: the shadow's worker, the capture process itself);
- :class:`CaptureProcess` hands them, pickled in one write per batch, to a process of its own
  (:mod:`scones.serving.capture_worker`), which writes them. The endpoint uses this one: encoding a
  record costs 60 µs of the interpreter lock, and on the event loop's process that was a quarter
  of the requests a second at 8 clients and +0.8 ms on the single-request p99.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pickle
import queue
import struct
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from common.capture import capture_line

#: Seconds records gather after the first before they are handled together. Why: a thread woken for every
#: request costs the event loop about as much as answering one (measured: p50 0.72 -> 0.86 ms per small
#: request with capture on in a thread woken per record). A SIGKILL of the endpoint loses at most this.
LINGER_SECONDS = 0.005
#: Seconds a stopping endpoint waits for its capture to reach the disk.
CLOSE_SECONDS = 10.0


class CaptureFiles:
    """One variant's capture, appended to hourly files (synchronous: called by a writer's thread or process)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._hour, self._handle = None, None

    def _path(self, when: dt.datetime) -> Path:
        hour = self.folder / when.strftime("%Y/%m/%d/%H")
        hour.mkdir(parents=True, exist_ok=True)
        return hour / f"{when.strftime('%M-%S-%f')}-{uuid.uuid4().hex[:8]}.jsonl"

    def write(self, when: dt.datetime, input_type: str, body: bytes, output_type: str, output: bytes,
              metadata: dict) -> None:
        hour = when.strftime("%Y%m%d%H")
        if hour != self._hour:
            self.close()
            self._hour, self._handle = hour, open(self._path(when), "a", encoding="utf-8")
        self._handle.write(capture_line(input_type, body, output_type, output, when, metadata) + "\n")

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._hour, self._handle = None, None


_CLOSE = object()


class _Gatherer:
    """The thread both writers share: wakes on the first record, lingers, hands over what gathered."""

    def __init__(self, handle_batch, name: str = "data-capture"):
        self._handle_batch = handle_batch  # (records, closing) -> None, called on this thread
        self._queue: queue.Queue = queue.Queue()
        self._now = threading.Event()  # a flush cuts the linger short
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item) -> None:
        self._queue.put(item)

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far has been handled; False when ``timeout`` passed first."""
        done = threading.Event()
        self._queue.put(done)
        self._now.set()
        return done.wait(timeout)

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        self._queue.put(_CLOSE)
        self._now.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        running = True
        while running:
            items = [self._queue.get()]
            self._now.wait(LINGER_SECONDS)
            self._now.clear()
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = _CLOSE not in items
            records = [item for item in items if isinstance(item, tuple)]
            flushes = [item for item in items if isinstance(item, threading.Event)]
            try:
                self._handle_batch(records, closing=not running)
            except Exception as exc:  # noqa: BLE001 - capture must never take the endpoint down
                print(f"data capture: {len(records)} records not written: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
            for done in flushes:
                done.set()


class Capture:
    """One variant's capture: what the endpoint records, whichever writer does the writing."""

    folder: Path

    def record(self, input_type: str, body: bytes, output_type: str, output: bytes, **metadata) -> None:
        raise NotImplementedError

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything recorded so far is on disk."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def sibling(self, variant: str) -> Capture:
        """The capture of another variant of the same endpoint (SageMaker keeps a folder per variant)."""
        raise NotImplementedError


class CaptureWriter(Capture):
    """Records written as JSON lines by a thread of this process."""

    def __init__(self, root: Path, endpoint: str, variant: str = "AllTraffic"):
        self.root, self.endpoint = Path(root), endpoint
        self.folder = self.root / endpoint / variant
        self._files = CaptureFiles(self.folder)
        self._gatherer = _Gatherer(self._write)

    def _write(self, records: list, closing: bool) -> None:
        for record in records:
            self._files.write(*record)
        self._files.flush()  # the gathered records reach the OS at once
        if closing:
            self._files.close()

    def record(self, input_type: str, body: bytes, output_type: str, output: bytes, **metadata) -> None:
        self._gatherer.put((dt.datetime.now(dt.UTC), input_type, body, output_type, output, metadata))

    def flush(self, timeout: float = 5.0) -> None:
        self._gatherer.flush(timeout)

    def close(self) -> None:
        self._gatherer.close()

    def sibling(self, variant: str) -> CaptureWriter:
        return CaptureWriter(self.root, self.endpoint, variant)


class _Channel:
    """The capture process of one endpoint, shared by its variants: batches go down its stdin, pickled."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._process: subprocess.Popen | None = None
        self._flushes = itertools.count(1)
        self._acked: dict[int, threading.Event] = {}
        self.restarts = 0
        self._gatherer = _Gatherer(self._send, name="data-capture-sender")

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "scones.serving.capture_worker", str(self.root)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _widen(process.stdin)
        threading.Thread(target=self._read_acks, args=(process,), name="data-capture-acks", daemon=True).start()
        return process

    def _read_acks(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            done = self._acked.pop(int(line.split()[1]), None)
            if done is not None:
                done.set()

    def _frame(self, message) -> bytes:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        return struct.pack(">I", len(data)) + data

    def _send(self, records: list, closing: bool) -> None:
        acks = [item for item in records if item[0] == "flush"]
        batch = [item[1:] for item in records if item[0] == "record"]
        frames = (self._frame(("records", batch)) if batch else b"") + \
            b"".join(self._frame(("flush", number)) for _, number in acks)
        if not frames and self._process is None:
            return  # nothing was ever captured: no process to start or stop
        for attempt in (1, 2):
            if self._process is None or self._process.poll() is not None:
                if self._process is not None:
                    self.restarts += 1
                    print(f"data capture: the capture process exited ({self._process.returncode}); restarted",
                          file=sys.stderr, flush=True)
                self._process = self._start()
            try:
                self._process.stdin.write(frames)
                self._process.stdin.flush()
                break
            except (BrokenPipeError, OSError):
                self._process.wait()  # the next attempt starts a new one and sends the batch again
                if attempt == 2:
                    raise
        if closing:
            self._process.stdin.close()
            self._process.wait(CLOSE_SECONDS)

    def record(self, relative: str, record: tuple) -> None:
        self._gatherer.put(("record", relative, *record))

    def flush(self, timeout: float) -> None:
        number = next(self._flushes)
        done = self._acked[number] = threading.Event()
        self._gatherer.put(("flush", number))
        self._gatherer.flush(timeout)
        done.wait(timeout)

    def close(self) -> None:
        self._gatherer.close()


#: Bytes the pipe to the capture process holds (Linux's default is 64 KB, about 20 records of a 32x32 PNG).
PIPE_BYTES = 1 << 20


def _widen(pipe) -> None:
    """Let the pipe hold a second of records: a batch written while the capture process is still starting (or
    busy) then goes in whole instead of blocking half-written, which a SIGKILL of the endpoint would cut off.
    Linux only, and only up to ``/proc/sys/fs/pipe-max-size``; elsewhere the pipe keeps its size."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


class CaptureProcess(Capture):
    """Records handed to a process of their own to write (see the module's docstring for why)."""

    def __init__(self, root: Path, endpoint: str, variant: str = "AllTraffic", channel: _Channel | None = None):
        self.root, self.endpoint, self.variant = Path(root), endpoint, variant
        self.folder = self.root / endpoint / variant
        self._relative = f"{endpoint}/{variant}"
        self._channel = channel or _Channel(self.root)

    def record(self, input_type: str, body: bytes, output_type: str, output: bytes, **metadata) -> None:
        self._channel.record(self._relative, (dt.datetime.now(dt.UTC), input_type, body, output_type, output,
                                              metadata))

    def flush(self, timeout: float = 5.0) -> None:
        self._channel.flush(timeout)

    def close(self) -> None:
        """Write what is queued and stop the process (every variant's: they share it)."""
        self._channel.close()

    def sibling(self, variant: str) -> CaptureProcess:
        return CaptureProcess(self.root, self.endpoint, variant, self._channel)

    @property
    def pid(self) -> int | None:
        process = self._channel._process
        return process.pid if process is not None else None


"""Data capture in SageMaker's format: JSON Lines, one object per request, hourly folders.

``<root>/<endpoint>/<variant>/YYYY/MM/DD/HH/<minute-second>-<uuid>.jsonl``, each line::

    {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                     "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
     "eventMetadata": {"eventId", "inferenceTime", "inferenceId"}, "eventVersion": "0"}

A request never waits for the disk. Two writers:

- :class:`CaptureWriter` turns records into JSON lines on a background thread that wakes at most
  every :data:`LINGER_SECONDS` and writes what gathered meanwhile in one go (a process that does
  little else: the shadow's worker);
- :class:`CaptureProcess` writes each record, pickled, into the pipe of a process of its own
  (:mod:`scones.serving.capture_worker`), which turns them into lines. The endpoint uses this one:
  encoding a record costs 60 µs of the interpreter lock, and on the event loop's process that was
  a quarter of the requests a second at 8 clients and +0.8 ms on the single-request p99.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from common.capture import capture_line

#: Seconds records gather before they are handled together: by :class:`CaptureWriter`'s thread after the first
#: (a SIGKILL loses at most this), and in the pipe between the capture process's reads. Why: a thread or process
#: woken for every request costs the event loop about as much as answering one (measured: p50 0.72 -> 0.86 ms
#: per small request with capture on in a thread woken per record).
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
    """:class:`CaptureWriter`'s thread: wakes on the first record, lingers, hands over what gathered."""

    def __init__(self, handle_batch):
        self._handle_batch = handle_batch  # (records, closing) -> None, called on this thread
        self._queue: queue.Queue = queue.Queue()
        self._now = threading.Event()  # a flush cuts the linger short
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
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
    """The capture process of one endpoint, shared by its variants: each record goes down its stdin, pickled,
    in one write from the thread that recorded it.

    Why no hand-over thread: waking one for each batch cost the event loop about 100 µs per request in
    interpreter-lock hand-overs, and its writes of whole batches moved pages the loop then waited for
    (measured: p50 0.80 ms without capture, 0.96 with it). A non-blocking write of a few KB into a
    pipe that no one is waiting on costs the recording thread a few µs. The record is in the pipe
    before the reply leaves, so a SIGKILL of the endpoint loses no answered request.

    What does not fit (the capture process is busy, stopped, not started yet, or dead) waits here,
    in order, for the sender thread: it starts or restarts the process, waits for room in the pipe,
    and sends the rest. Frames queued behind it are never written past it.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._process: subprocess.Popen | None = None
        self._fd = -1  # the process's stdin, non-blocking; written under _lock only
        self._lock = threading.Lock()
        self._waiting: collections.deque[list] = collections.deque()  # [frame, bytes of it sent], in order
        self._wake = threading.Event()
        self._closing = False
        self._flushes = itertools.count(1)
        self._acked: dict[int, threading.Event] = {}
        self.restarts = 0
        self._sender = threading.Thread(target=self._run, name="data-capture-sender", daemon=True)
        self._sender.start()

    @property
    def waiting_bytes(self) -> int:
        """Bytes recorded and not yet in the pipe (held in this process)."""
        with self._lock:
            return sum(len(frame) - sent for frame, sent in self._waiting)

    def record(self, relative: str, record: tuple) -> None:
        self._send(self._frame(("records", [(relative, *record)])))

    def flush(self, timeout: float) -> None:
        """Wait until the capture process has written everything sent before (or ``timeout`` passed)."""
        number = next(self._flushes)
        done = self._acked[number] = threading.Event()
        self._send(self._frame(("flush", number)))
        done.wait(timeout)

    def close(self) -> None:
        """Send what waits, end the process's input, and wait for it to write everything (bounded)."""
        self._closing = True
        self._wake.set()
        self._sender.join(CLOSE_SECONDS)

    @staticmethod
    def _frame(message) -> bytes:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        return struct.pack(">I", len(data)) + data

    def _send(self, frame: bytes) -> None:
        with self._lock:
            if not self._waiting and self._fd >= 0:
                sent = self._write(frame)
                if sent == len(frame):
                    return
            else:
                sent = 0
            self._waiting.append([frame, sent])
        self._wake.set()

    def _write(self, data) -> int:
        """Bytes of ``data`` the pipe took now (0 when full, or when the process is gone: the sender sees to it)."""
        try:
            return os.write(self._fd, data)
        except OSError:  # BlockingIOError: the pipe is full; BrokenPipeError: the capture process died
            return 0

    # -- the sender thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                while self._deliver():
                    pass
            except Exception as exc:  # noqa: BLE001 - capture must never take the endpoint down
                print(f"data capture: records not written: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            if self._closing and not self._waiting:
                self._stop_process()
                return

    def _deliver(self) -> bool:
        """Write what waits; True while some is left (after waiting a moment for room in the pipe)."""
        if not self._waiting:
            return False
        if self._process is None or self._process.poll() is not None:
            self._replace_process()
        with self._lock:
            while self._waiting:
                entry = self._waiting[0]
                entry[1] += self._write(memoryview(entry[0])[entry[1]:])
                if entry[1] < len(entry[0]):
                    break
                self._waiting.popleft()
            left = bool(self._waiting)
        if left:
            select.select([], [self._fd], [], 0.05)  # room in the pipe, or a moment to see whether the process died
        return left

    def _replace_process(self) -> None:
        """Start the capture process, or a new one for one that died (the frame it was cut off in goes again whole)."""
        old = self._process
        if old is not None:
            old.wait()
            self.restarts += 1
            print(f"data capture: the capture process exited ({old.returncode}); restarted", file=sys.stderr,
                  flush=True)
        process = subprocess.Popen([sys.executable, "-m", "scones.serving.capture_worker", str(self.root)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _widen(process.stdin)
        os.set_blocking(process.stdin.fileno(), False)
        threading.Thread(target=self._read_acks, args=(process,), name="data-capture-acks", daemon=True).start()
        with self._lock:
            if old is not None:
                old.stdin.close()
            self._process, self._fd = process, process.stdin.fileno()
            if self._waiting:
                self._waiting[0][1] = 0

    def _stop_process(self) -> None:
        with self._lock:
            process, self._fd = self._process, -1
        if process is not None:
            process.stdin.close()
            try:
                process.wait(CLOSE_SECONDS)
            except subprocess.TimeoutExpired:
                print("data capture: the capture process did not finish writing in time", file=sys.stderr, flush=True)

    def _read_acks(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            done = self._acked.pop(int(line.split()[1]), None)
            if done is not None:
                done.set()


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
        # the time as a number: an aware datetime takes 15 µs to pickle, the rest of the record 2
        self._channel.record(self._relative, (time.time(), input_type, body, output_type, output, metadata))

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


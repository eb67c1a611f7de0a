"""Stop a local execution from outside it: ``StopPipelineExecution`` for runs on this machine.

The run's process gets SIGTERM and stops its jobs itself (:mod:`scones.engine.stopping`), so its
record says which step was stopped. A process that has not ended after the grace period is killed
with its jobs, and the record is closed as Stopped here: a marker in the run's folder tells every
reader that this death was a stop, not a crash.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from scones.engine.records import EXECUTING, STOP_MARKER, STOPPING, ExecutionRecord
from scones.errors import Conflict

DEFAULT_GRACE_SECONDS = 30.0


def stop_execution(record: ExecutionRecord, grace_seconds: float = DEFAULT_GRACE_SECONDS,
                   poll_seconds: float = 0.2) -> ExecutionRecord:
    """Stop ``record``'s run and return its final record (status Stopped, or how it ended first)."""
    if record.status not in (EXECUTING, STOPPING):
        raise Conflict(f"execution {record.execution_id} is {record.status}; only an Executing execution can be "
                       "stopped")
    path = Path(record.folder) / "execution.json"
    (Path(record.folder) / STOP_MARKER).write_text(f"{time.time()}\n", encoding="utf-8")
    _signal(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        current = ExecutionRecord.load(path)
        if current.status not in (EXECUTING, STOPPING):
            return current
        time.sleep(poll_seconds)
    jobs = _descendants(record.pid)  # read before the run dies, while they are still its descendants
    for pid in [record.pid, *jobs]:  # the run first: it must not outlive its jobs and record them failed
        _signal(pid, signal.SIGKILL)
    for _ in range(50):  # SIGKILL is not instant: wait until the process is gone (or a zombie)
        if ExecutionRecord.load(path).orphaned():
            break
        time.sleep(0.05)
    current = ExecutionRecord.load(path)  # an orphaned record with the marker reads Stopped
    if current.status in (EXECUTING, STOPPING):
        current.mark_stopped(f"killed by `scones pipeline stop` after a {grace_seconds:g} s grace")
        current.save()
    return current


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its jobs and theirs), from /proc; empty where there is none."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found

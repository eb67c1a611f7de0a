"""Execution and step records: what a local run did, kept as JSON for status views.

Shaped after ``DescribePipelineExecution`` / ``ListPipelineExecutionSteps`` so
the CLI and the dashboard show local and SageMaker runs the same way.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EXECUTING, SUCCEEDED, FAILED, NOT_EXECUTED = "Executing", "Succeeded", "Failed", "NotExecuted"
STOPPING, STOPPED = "Stopping", "Stopped"
#: Written into a run's folder by ``scones pipeline stop``: a run that then dies was stopped, not crashed.
STOP_MARKER = "stop-requested"
_SAVING = threading.Lock()


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "Pending"
    started: float | None = None
    ended: float | None = None
    failure_reason: str = ""
    summary: str = ""
    cached_from: str = ""
    reused_from: str = ""  # a step a selective execution did not select: its outputs are this execution's
    log_path: str = ""
    log_tail: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


@dataclass
class ExecutionRecord:
    pipeline_name: str
    execution_id: str
    arn: str
    parameters: dict[str, Any]
    status: str = EXECUTING
    started: float = 0.0
    ended: float | None = None
    failure_reason: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    folder: str = ""
    #: SageMaker's SelectiveExecutionConfig when only some steps ran ({SourcePipelineExecutionArn, SelectedSteps})
    selective: dict[str, Any] | None = None
    attempts: int = 1  # 2 and more after ``scones pipeline retry``
    pid: int = field(default_factory=os.getpid)  # the process running it: a dead one means the run died
    host: str = field(default_factory=lambda: socket.gethostname())

    def step(self, name: str) -> StepRecord:
        for record in self.steps:
            if record.name == name:
                return record
        raise KeyError(name)

    def save(self) -> None:
        """Write atomically, so a reader polling the file never sees half a record; steps running in
        parallel save one at a time."""
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        with _SAVING:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".execution-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(self), handle, indent=1, default=str)
            os.replace(tmp, folder / "execution.json")

    @classmethod
    def load(cls, path: Path) -> ExecutionRecord:
        """Read a record; an ``Executing`` run whose process is gone is marked Failed (and saved so)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["steps"] = [StepRecord(**s) for s in data.get("steps", [])]
        data.setdefault("pid", 0)  # records written before pids were kept
        record = cls(**data)
        if record.status in (EXECUTING, STOPPING) and record.orphaned():
            record.mark_died()
            try:
                record.save()
            except OSError:
                pass  # a read-only view still shows the truth
        return record

    def orphaned(self) -> bool:
        """True when this machine's process that ran the execution no longer exists."""
        if not self.pid or self.host != socket.gethostname():
            return False  # unknown, or another machine's run: cannot tell
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, someone else's
        return _is_zombie(self.pid)

    def mark_died(self) -> None:
        import time

        if (Path(self.folder) / STOP_MARKER).exists():  # `scones pipeline stop` ended it, however it ended
            self.mark_stopped("stopped by `scones pipeline stop`")
            return
        reason = f"the process running this execution (pid {self.pid}) is gone: killed or crashed"
        console = Path(self.folder) / "console.log"  # a launched run's output (scones.engine.launcher)
        last = _last_line(console)
        if last:
            reason += f"; its last output: {last}"
        self.status, self.failure_reason = FAILED, reason
        self.ended = self.ended or time.time()
        for step in self.steps:
            if step.status == EXECUTING:
                step.status, step.failure_reason, step.ended = FAILED, reason, step.ended or self.ended


    def mark_stopped(self, reason: str) -> None:
        """Stopped, as SageMaker ends a stopped execution: the running steps Stopped, the execution too."""
        import time

        self.status, self.failure_reason = STOPPED, ""
        self.ended = self.ended or time.time()
        for step in self.steps:
            if step.status in (EXECUTING, STOPPING):
                step.status, step.failure_reason, step.ended = STOPPED, reason, step.ended or self.ended
            elif step.status == "Pending":
                step.status, step.summary = NOT_EXECUTED, "the execution was stopped"

    @property
    def selected_steps(self) -> list[str]:
        return [s["StepName"] for s in (self.selective or {}).get("SelectedSteps", [])]


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 2048))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(pid, 0); /proc says it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def list_executions(runs_dir: Path, pipeline_name: str | None = None) -> list[ExecutionRecord]:
    """Local executions, newest first."""
    records = []
    for path in Path(runs_dir).glob("*/*/execution.json"):
        try:
            record = ExecutionRecord.load(path)
        except (OSError, ValueError, TypeError):
            continue
        if pipeline_name is None or record.pipeline_name == pipeline_name:
            records.append(record)
    return sorted(records, key=lambda r: r.started, reverse=True)


def find_execution(runs_dir: Path, execution: str | None = None) -> ExecutionRecord:
    """A local execution by id or ARN (the newest when None); NotFound names what there is."""
    from scones.errors import NotFound

    records = list_executions(runs_dir)
    if execution:
        records = [r for r in records if execution in (r.execution_id, r.arn)]
    if not records:
        raise NotFound("no local pipeline executions" + (f" matching {execution}" if execution else "")
                       + ": `scones pipeline list` shows them")
    return records[0]

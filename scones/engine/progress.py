"""Progress output for pipeline runs: one line per step with status and time."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from scones.engine.records import FAILED, STOPPED, ExecutionRecord, StepRecord


class Reporter(Protocol):
    def execution_started(self, record: ExecutionRecord) -> None: ...
    def step_started(self, step: StepRecord) -> None: ...
    def log_line(self, step: StepRecord, line: str) -> None: ...
    def step_finished(self, step: StepRecord) -> None: ...
    def execution_finished(self, record: ExecutionRecord) -> None: ...


class ConsoleReporter:
    """Prints a line as each step starts and ends; a failed step shows its log tail."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.width = 28

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def execution_started(self, record: ExecutionRecord) -> None:
        self.width = max([len(s.name) for s in record.steps] + [12]) + 2
        attempt = f", attempt {record.attempts}" if record.attempts > 1 else ""
        self._print(f"pipeline {record.pipeline_name}: execution {record.execution_id} "
                    f"({len(record.steps)} steps{attempt}; records in {record.folder})")
        if record.selective:
            source = record.selective.get("SourcePipelineExecutionArn", "").rsplit("/", 1)[-1]
            self._print(f"  selective execution: only {', '.join(record.selected_steps)} run"
                        + (f"; the other steps' outputs are execution {source}'s" if source else ""))

    def step_started(self, step: StepRecord) -> None:
        self._print(f"  {step.name:<{self.width}} {'Executing':<10} ({step.type})")

    def log_line(self, step: StepRecord, line: str) -> None:
        self._print(f"  | {step.name}: {line}")

    def step_finished(self, step: StepRecord) -> None:
        seconds = f"{step.seconds:6.1f} s" if step.seconds is not None else ""
        note = f"cached from {step.cached_from}" if step.cached_from else step.summary
        self._print(f"  {step.name:<{self.width}} {step.status:<10} {seconds}  {note}".rstrip())
        if step.status == STOPPED:
            self._print(f"    {step.failure_reason}")
        if step.status == FAILED:
            self._print(f"    reason: {step.failure_reason}")
            if step.log_tail:
                self._print(f"    last {len(step.log_tail)} log lines ({step.log_path}):")
                for line in step.log_tail:
                    self._print(f"    | {line}")

    def execution_finished(self, record: ExecutionRecord) -> None:
        skipped = [s for s in record.steps if s.status == "NotExecuted"]
        for step in skipped:
            self._print(f"  {step.name:<{self.width}} {'skipped':<10}          {step.summary}")
        total = (record.ended or record.started) - record.started
        self._print(f"execution {record.execution_id} {record.status} in {total:.1f} s"
                    + (f": {record.failure_reason}" if record.failure_reason else ""))


class QuietReporter:
    def execution_started(self, record): ...
    def step_started(self, step): ...
    def log_line(self, step, line): ...
    def step_finished(self, step): ...
    def execution_finished(self, record): ...

"""Retention: what ``scones gc`` deletes so a laptop does not fill up.

Three things grow with use: endpoint data capture (every request, images included), the
pipeline run folders (records, job logs, sandboxes), and the local registry's events table.
Defaults keep what a person looks at -- 30 days of capture, the 50 newest runs of each
pipeline, the 10,000 newest events -- and never touch a run that is still executing, the
step cache, the artifact store's models, or the registry's versions.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from scones.engine.records import EXECUTING, list_executions
from scones.monitor.capture_reader import hour_of

CAPTURE_DAYS, KEEP_RUNS, KEEP_EVENTS = 30, 50, 10_000


@dataclass(frozen=True)
class Removed:
    what: str
    items: int
    bytes: int

    def line(self, dry_run: bool = False) -> str:
        return f"{self.what}: {'would remove' if dry_run else 'removed'} {self.items} ({self.bytes / 1e6:.1f} MB)"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def prune_capture(root: Path, days: float = CAPTURE_DAYS, now: dt.datetime | None = None,
                  dry_run: bool = False) -> Removed:
    """Delete capture hour folders (``.../YYYY/MM/DD/HH``) that ended more than ``days`` ago."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    items = size = 0
    root = Path(root)
    hours = {p.parent for p in root.rglob("*.jsonl")} if root.exists() else set()
    for folder in sorted(hours):
        hour = hour_of(str(folder.relative_to(root)))
        if hour is not None and hour + dt.timedelta(hours=1) <= cutoff:
            items, size = items + 1, size + _size(folder)
            if not dry_run:
                shutil.rmtree(folder)
    return Removed(f"capture hour folders older than {days:g} days", items, size)


def prune_runs(runs_dir: Path, keep: int = KEEP_RUNS, dry_run: bool = False) -> Removed:
    """Keep the ``keep`` newest executions of each pipeline; never one that is still executing."""
    items = size = 0
    by_pipeline: dict[str, list] = {}
    for record in list_executions(runs_dir):  # newest first; a dead run already reads as Failed
        by_pipeline.setdefault(record.pipeline_name, []).append(record)
    for records in by_pipeline.values():
        for record in records[keep:]:
            if record.status == EXECUTING or not record.folder:
                continue
            folder = Path(record.folder)
            if folder.is_dir():
                items, size = items + 1, size + _size(folder)
                if not dry_run:
                    shutil.rmtree(folder)
    return Removed(f"pipeline runs beyond the newest {keep} per pipeline", items, size)


def prune_events(registry, keep: int = KEEP_EVENTS, dry_run: bool = False) -> Removed:
    """Drop all but the ``keep`` newest registry events (followers resync from the registry's state)."""
    count = registry.prune_events(keep, dry_run=dry_run)
    return Removed(f"registry events beyond the newest {keep}", count, 0)

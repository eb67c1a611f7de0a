"""Bounded reads of data capture (time window, per-hour summaries) and `scones gc`."""

import datetime as dt
import json
import os
import time

from scones import cli, retention
from scones.monitor.capture_reader import SUMMARY_FILE, read_capture
from tests.monitor.test_report import CORRUPT, write_capture

START = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)


def _rows(n):
    return [[0.9, 0.1] if i % 2 else [0.2, 0.8] for i in range(n)]


def test_capture_window_leaves_older_hours_unread(tmp_path):
    write_capture(tmp_path / "c", _rows(90), CORRUPT, start=START)  # 10:00-10:59 and 11:00-11:29
    assert len(read_capture(tmp_path / "c").predictions) == 90
    since = START + dt.timedelta(hours=1)
    scan = read_capture(tmp_path / "c", since=since)
    assert len(scan.predictions) == 30 and all(p.time >= since for p in scan.predictions)
    assert scan.files == 2, "the 10:00 hour folder's files were not opened"


def test_finished_hours_are_read_from_their_summary(tmp_path):
    write_capture(tmp_path / "c", _rows(90), CORRUPT, start=START)
    first = read_capture(tmp_path / "c")
    hour = tmp_path / "c" / "scones-endpoint/AllTraffic/2026/11/23/10"
    assert (hour / SUMMARY_FILE).exists()
    for path in hour.glob("*.jsonl"):  # replace the lines, keep size and mtime: only the summary can answer
        stat = path.stat()
        path.write_bytes(b"x" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = read_capture(tmp_path / "c")
    assert [p.probabilities for p in second.predictions] == [p.probabilities for p in first.predictions]
    assert (second.lines, second.corrupt) == (first.lines, first.corrupt)


def test_a_changed_hour_is_parsed_again(tmp_path):
    write_capture(tmp_path / "c", _rows(90), [], start=START)
    assert len(read_capture(tmp_path / "c").predictions) == 90
    hour = tmp_path / "c" / "scones-endpoint/AllTraffic/2026/11/23/10"
    (hour / "a.jsonl").write_text("")
    assert len(read_capture(tmp_path / "c").predictions) < 90


def test_prune_capture_removes_hours_older_than_the_retention(tmp_path):
    write_capture(tmp_path / "c", _rows(90), [], start=START)
    now = START + dt.timedelta(days=30, hours=1, minutes=30)  # the 10:00 hour ended 30 days and 30 minutes ago
    dry = retention.prune_capture(tmp_path / "c", days=30, now=now, dry_run=True)
    assert dry.items == 1 and (tmp_path / "c/scones-endpoint/AllTraffic/2026/11/23/10").exists()
    removed = retention.prune_capture(tmp_path / "c", days=30, now=now)
    assert removed.items == 1 and removed.bytes > 0
    assert not (tmp_path / "c/scones-endpoint/AllTraffic/2026/11/23/10").exists()
    assert (tmp_path / "c/scones-endpoint/AllTraffic/2026/11/23/11").exists()


def test_prune_runs_keeps_the_newest_and_any_executing(tmp_path):
    from scones.engine.records import EXECUTING, SUCCEEDED, ExecutionRecord, list_executions

    for i in range(5):
        status = EXECUTING if i == 0 else SUCCEEDED  # the oldest is still running (this process)
        ExecutionRecord("P", f"e{i}", "arn", {}, status=status, started=time.time() + i,
                        folder=str(tmp_path / "runs" / "P" / f"e{i}")).save()
    removed = retention.prune_runs(tmp_path / "runs", keep=2)
    assert removed.items == 2
    assert sorted(r.execution_id for r in list_executions(tmp_path / "runs")) == ["e0", "e3", "e4"]


def test_gc_command_prunes_registry_events(workspace, capsys):
    registry = workspace.registry()
    version = registry.register(workspace.model_group, "s3://b/m.tar.gz", "img")
    for _ in range(5):
        registry.approve(workspace.model_group, version.version)
    assert cli.main(["gc", "--keep-events", "2", "--dry-run"]) == 0
    assert "registry events beyond the newest 2: would remove 3" in capsys.readouterr().out
    assert len(registry.events_since(0)) == 5
    assert cli.main(["gc", "--keep-events", "2"]) == 0
    assert "registry events beyond the newest 2: removed 3" in capsys.readouterr().out
    assert [json.loads(json.dumps(e))["detail"]["ModelApprovalStatus"] for _, e in registry.events_since(0)] == [
        "Approved", "Approved"]

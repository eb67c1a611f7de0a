"""A run whose process died (SIGKILL, a crash) reads as Failed, not Executing forever."""

import os
import signal
import subprocess
import sys
import time

from scones.engine.records import EXECUTING, FAILED, ExecutionRecord, StepRecord, list_executions


def test_record_of_a_dead_process_reads_as_failed(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    folder = tmp_path / "runs" / "P" / "e1"
    record = ExecutionRecord("P", "e1", "arn", {}, started=time.time(), folder=str(folder), pid=finished.pid,
                             steps=[StepRecord("TrainModel", "Training", status=EXECUTING, started=time.time())])
    record.save()
    [loaded] = list_executions(tmp_path / "runs")
    assert loaded.status == FAILED and f"pid {finished.pid}" in loaded.failure_reason
    assert loaded.steps[0].status == FAILED
    assert ExecutionRecord.load(folder / "execution.json").status == FAILED, "saved, for every later reader"


def test_record_of_a_live_process_stays_executing(tmp_path):
    record = ExecutionRecord("P", "e2", "arn", {}, started=time.time(), folder=str(tmp_path / "e2"))
    record.save()
    assert ExecutionRecord.load(tmp_path / "e2" / "execution.json").status == EXECUTING


def test_pipeline_run_killed_with_sigkill_shows_failed(workspace, tiny_archive, capsys):
    from scones import cli

    env = {**os.environ, "SCONES_HOME": str(workspace.workspace.root)}
    process = subprocess.Popen([sys.executable, "-m", "scones.cli", "pipeline", "run", "--input", str(tiny_archive),
                                "-p", "Epochs=40"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            records = list_executions(workspace.workspace.runs)
            if records and any(s.status == EXECUTING and s.name == "TrainModel" for s in records[0].steps):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the run never reached TrainModel")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    cli.main(["pipeline", "status"])
    out = capsys.readouterr().out
    assert "Failed" in out and "is gone" in out
    assert list_executions(workspace.workspace.runs)[0].status == FAILED

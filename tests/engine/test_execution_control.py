"""Execution control as SageMaker has it: selective execution, stop, retry."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from scones.engine.control import stop_execution
from scones.engine.records import ExecutionRecord, find_execution
from scones.engine.selective import Selection, selection_errors
from scones.engine.stopping import STOP
from scones.errors import Conflict, InvalidInput
from tests.engine.test_executor import UPPER, output_of, processing, two_steps

SLEEP = "import time; print('working', flush=True); time.sleep(60)"


@pytest.fixture(autouse=True)
def fresh_stop_signal():
    STOP.reset()
    yield
    STOP.reset()


def chain(*names):
    """A -> B -> C ..., each step upper-casing its predecessor's output."""
    steps = [processing(names[0], {"Get": "Parameters.Source"})]
    for before, name in zip(names, names[1:], strict=False):
        steps.append(processing(name, output_of(before), code=UPPER.replace("in.txt", "out.txt")))
    return {"Version": "2020-12-01",
            "Parameters": [{"Name": "Source", "Type": "String", "DefaultValue": "s3://bkt/data"}], "Steps": steps}


def test_a_selective_execution_runs_only_the_selected_step_on_the_source_outputs(engine):
    source = engine.start(two_steps(), "P")
    engine.store.put_bytes(f"s3://bkt/runs/{source.execution_id}/First/out.txt", b"changed")
    again = engine.start(two_steps(), "P", selection=Selection(("Second",), source))
    assert again.status == "Succeeded", again.failure_reason
    first, second = again.step("First"), again.step("Second")
    assert (first.status, first.reused_from, first.started) == ("NotExecuted", source.execution_id, None)
    assert second.status == "Succeeded"
    out = second.properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert engine.store.get_bytes(out + "/out.txt") == b"CHANGED"  # read the source's First, not a new one
    assert again.selective == {"SelectedSteps": [{"StepName": "Second"}],
                               "SourcePipelineExecutionArn": source.arn}
    saved = ExecutionRecord.load(engine.runs_dir / "P" / again.execution_id / "execution.json")
    assert saved.selected_steps == ["Second"] and saved.step("First").reused_from == source.execution_id


def test_sagemakers_selection_rules_are_refused_by_name(engine):
    nodes = {"A": [], "B": ["A"], "C": ["B"]}
    done = engine.start(chain("A", "B", "C"), "P")
    failed = engine.start({**chain("A", "B", "C"), "Parameters": [
        {"Name": "Source", "Type": "String", "DefaultValue": "s3://bkt/nothing-here"}]}, "P")
    assert failed.status == "Failed"
    assert "['B'] lie on a path between selected steps" in selection_errors(nodes, "P", Selection(("A", "C"), done))[0]
    assert "not in the pipeline definition" in selection_errors(nodes, "P", Selection(("Z",), done))[0]
    assert "1 to 50" in selection_errors(nodes, "P", Selection((), done))[0]
    assert "--from-execution" in selection_errors(nodes, "P", Selection(("B",)))[0]
    assert "did not succeed in execution" in selection_errors(nodes, "P", Selection(("C",), failed))[0]
    assert "belongs to pipeline P" in selection_errors(nodes, "Q", Selection(("B",), done))[0]
    assert selection_errors(nodes, "P", Selection(("B", "C"), done)) == []
    assert selection_errors(nodes, "P", Selection(("A", "B", "C"))) == []  # nothing to copy: no source needed
    with pytest.raises(InvalidInput, match="ValidationException"):
        engine.start(chain("A", "B", "C"), "P", selection=Selection(("A", "C"), done))


def test_a_source_still_executing_is_refused(engine):
    source = engine.start(two_steps(), "P")
    source.status = "Executing"
    assert "it must be Succeeded or Failed" in selection_errors({"First": [], "Second": ["First"]}, "P",
                                                                Selection(("Second",), source))[0]


def test_a_stop_request_stops_the_running_job_and_runs_nothing_after_it(engine):
    definition = two_steps()
    definition["Steps"][0] = processing("First", {"Get": "Parameters.Source"}, code=SLEEP)
    threading.Timer(1.0, STOP.request).start()
    started = time.monotonic()
    record = engine.start(definition, "P")
    assert time.monotonic() - started < 20  # not the job's 60 s
    assert (record.status, record.failure_reason) == ("Stopped", "")
    assert record.step("First").status == "Stopped"
    assert "stopped with its execution" in record.step("First").failure_reason
    assert (record.step("Second").status, record.step("Second").summary) == ("NotExecuted",
                                                                             "the execution was stopped")


def test_a_stopped_execution_is_saved_stopped_only_once_every_step_has_ended(engine, monkeypatch):
    """`scones pipeline stop` polls the saved record and returns at the first final status: a Stopped record
    with a step still Pending would be its answer (it was, once in a CI run). While its steps end it is
    Stopping, as SageMaker says."""
    saved, save = [], ExecutionRecord.save
    monkeypatch.setattr(ExecutionRecord, "save", lambda record: (
        saved.append((record.status, [step.status for step in record.steps])), save(record))[1])
    definition = two_steps()
    definition["Steps"][0] = processing("First", {"Get": "Parameters.Source"}, code=SLEEP)
    threading.Timer(1.0, STOP.request).start()
    assert engine.start(definition, "P").status == "Stopped"
    for status, steps in saved:
        assert status != "Stopped" or set(steps) <= {"Stopped", "NotExecuted"}, (status, steps)
    assert ("Stopping", ["Stopped", "Pending"]) in saved


def test_a_failed_execution_is_retried_from_its_failed_step(engine, tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("x")
    definition = two_steps()
    definition["Steps"][1] = processing("Second", output_of("First"),
                                        code=f"import os, sys; sys.exit(3 if os.path.exists({str(flag)!r}) else 0)")
    record = engine.start(definition, "P")
    assert (record.status, record.step("Second").status) == ("Failed", "Failed")
    first_ran = record.step("First").started
    flag.unlink()
    again = engine.retry(find_execution(engine.runs_dir, record.execution_id))
    assert (again.status, again.execution_id, again.attempts) == ("Succeeded", record.execution_id, 2)
    assert again.step("First").started == first_ran  # kept, not run again
    assert again.step("Second").status == "Succeeded" and again.step("Second").failure_reason == ""
    with pytest.raises(Conflict, match="only a Failed or Stopped execution can be retried"):
        engine.retry(again)


RUNNER = """
import json, signal, sys
from pathlib import Path
from scones.engine.executor import LocalPipelineExecutor
from scones.engine.progress import QuietReporter
from scones.registry.local import SqliteRegistry
from scones.store.local import LocalStore
from scones.commands.pipeline import _stop_on_sigterm
root = Path(sys.argv[1])
if sys.argv[2] == "obey":
    _stop_on_sigterm()
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a process that will not stop: the kill path
engine = LocalPipelineExecutor(LocalStore(root / "store"), SqliteRegistry(root / "registry.db"), root / "runs",
                               QuietReporter())
engine.start(json.loads(Path(sys.argv[3]).read_text()), "P")
"""


def _running_child(tmp_path, engine, mode: str, job_code: str):
    definition = two_steps()
    definition["Steps"][0] = processing("First", {"Get": "Parameters.Source"}, code=job_code)
    (tmp_path / "definition.json").write_text(json.dumps(definition))
    child = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), mode, str(tmp_path / "definition.json")],
                             env={**os.environ, "PYTHONPATH": os.getcwd()})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            record = find_execution(engine.runs_dir)
            if record.step("First").status == "Executing" and list((tmp_path / "runs").rglob("job.log")):
                time.sleep(0.5)  # the job has started
                return child, record
        except Exception:  # noqa: BLE001 - the record is not written yet
            pass
        time.sleep(0.1)
    child.kill()
    raise AssertionError("the run never reached its first job")


def test_scones_pipeline_stop_ends_a_run_stopped_within_its_grace(tmp_path, engine):
    child, record = _running_child(tmp_path, engine, "obey", SLEEP)
    started = time.monotonic()
    final = stop_execution(record, grace_seconds=30)
    assert time.monotonic() - started < 20
    assert child.wait(timeout=20) == 0
    assert final.status == "Stopped"
    assert [s.status for s in final.steps] == ["Stopped", "NotExecuted"]


def test_a_run_that_ignores_sigterm_is_killed_with_its_jobs_and_reads_stopped(tmp_path, engine):
    job = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child, record = _running_child(tmp_path, engine, "ignore", job)
    final = stop_execution(record, grace_seconds=1)
    child.wait(timeout=20)
    assert final.status == "Stopped" and final.step("First").status == "Stopped"
    assert "stop" in final.step("First").failure_reason
    again = ExecutionRecord.load(engine.runs_dir / "P" / record.execution_id / "execution.json")
    assert again.status == "Stopped"  # every later reader agrees: not "Failed: killed or crashed"
    leftovers = subprocess.run(["pgrep", "-f", "signal.SIG_IGN); print('up'"], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""  # the job was killed with its run
    with pytest.raises(Conflict, match="only an Executing execution can be stopped"):
        stop_execution(final)

"""The dashboard's rules, one function each: what is live, what is deploying, how a run reads."""

import time

import pytest

from scones.engine.records import EXECUTING, FAILED, NOT_EXECUTED, SUCCEEDED, ExecutionRecord, StepRecord
from scones.registry import APPROVED, PENDING, REJECTED, ModelVersion
from scones.ui import views


def _versions(*statuses):
    return [ModelVersion("G", i + 1, f"arn/{i + 1}", status, "s3://b/m.tar.gz", "img", "2026-11-24")
            for i, status in enumerate(statuses)]


def _endpoint(live, failed=()):
    return {"live": {"version": live} if live else None,
            "failed_versions": [{"version": v, "reason": "does not load"} for v in failed]}


@pytest.mark.parametrize(("statuses", "endpoint", "live", "deploying"), [
    ((APPROVED, PENDING), _endpoint(1), 1, None),                 # steady
    ((APPROVED, APPROVED), _endpoint(1), 1, 2),                   # v2 approved, endpoint not there yet
    ((APPROVED, REJECTED), _endpoint(2), 2, 1),                   # rollback under way
    ((APPROVED, APPROVED), _endpoint(1, failed=(2,)), 1, None),   # v2 failed: v1 stays, nothing deploying
    ((APPROVED, PENDING), _endpoint(None), None, 1),              # endpoint up, model loading
    ((APPROVED,), None, None, None),                              # no endpoint: nothing will deploy
])
def test_deployment_state(statuses, endpoint, live, deploying):
    state = views.deployment(_versions(*statuses), endpoint)
    assert (state.live, state.deploying) == (live, deploying)
    assert state.endpoint_running is (endpoint is not None)


def test_markers_name_live_deploying_and_failed():
    state = views.deployment(_versions(APPROVED, APPROVED, APPROVED), _endpoint(1, failed=(3,)))
    assert [state.marker(v) for v in (1, 2, 3)] == ["live", "deploying", "failed to deploy"]


def test_comparison_target_is_the_live_version_else_the_newest_other_approved():
    versions = _versions(APPROVED, APPROVED, PENDING)
    live, why = views.comparison_target(versions, views.deployment(versions, _endpoint(1)), 3)
    assert (live.version, why) == (1, "the version the endpoint serves")
    live, _ = views.comparison_target(versions, views.deployment(versions, None), 3)
    assert live.version == 2
    live, why = views.comparison_target(versions, views.deployment(versions, _endpoint(2)), 2)
    assert (live.version, why) == (1, "the newest other approved version")
    assert views.comparison_target(_versions(PENDING), views.deployment(_versions(PENDING), None), 1) == (None, "")


def _record(*statuses, status=FAILED):
    steps = [StepRecord(f"S{i}", "Processing", s, failure_reason="boom" if s == FAILED else "")
             for i, s in enumerate(statuses)]
    return ExecutionRecord("P", "e1", "arn", {}, status=status, started=time.time() - 5, ended=time.time(),
                           folder="/nonexistent", steps=steps, failure_reason="Step S1 failed: boom")


def test_every_step_is_counted_once_and_the_failed_one_comes_first():
    record = _record(SUCCEEDED, FAILED, NOT_EXECUTED, NOT_EXECUTED)
    assert views.step_summary(record) == "1 succeeded, 1 failed, 2 not executed"
    assert [s.name for s in views.ordered_steps(record)] == ["S1", "S0", "S2", "S3"]
    row = views.run_row(record)
    assert (row["failed_steps"], row["reason"]) == (1, "Step S1 failed: boom")
    running = _record(SUCCEEDED, EXECUTING, "Pending", status=EXECUTING)
    assert views.step_summary(running) == "1 succeeded, 1 running, 1 waiting"
    assert views.run_row(running)["reason"] == ""


def test_a_job_on_several_instances_shows_each_instances_log(tmp_path):
    (tmp_path / "job.log").write_text("etl: instance 1 of 2\n")
    (tmp_path / "job-algo-2.log").write_text("etl: instance 2 of 2\n")
    (tmp_path / "job-algo-10.log").write_text("etl: instance 10\n")
    step = StepRecord("EtlCifar", "Processing", SUCCEEDED, log_path=str(tmp_path / "job.log"))
    assert views.log_tail(step) == ["--- algo-1 ---", "etl: instance 1 of 2", "--- algo-2 ---", "etl: instance 2 of 2",
                                    "--- algo-10 ---", "etl: instance 10"]
    (tmp_path / "job-algo-2.log").unlink()
    (tmp_path / "job-algo-10.log").unlink()
    assert views.log_tail(step) == ["etl: instance 1 of 2"], "one instance: its log, no headers"


def test_a_version_already_taking_traffic_in_a_split_is_not_deploying():
    endpoint = {**_endpoint(1), "variants": [{"variant": "v1", "version": 1, "share": 0.9},
                                             {"variant": "v2", "version": 2, "share": 0.1}]}
    state = views.deployment(_versions(APPROVED, APPROVED), endpoint)
    assert state.deploying is None and state.marker(1) == "live"
    state = views.deployment(_versions(APPROVED, APPROVED), {**_endpoint(1), "variants": []})
    assert state.deploying == 2, "without the split, the newer approved version is on its way"

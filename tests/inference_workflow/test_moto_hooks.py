"""The hooks that make moto's interpreter fast change nothing a definition means, and come undone."""

import copy
import datetime
import gc
import json
import threading
import time

import pytest

from scones.workflow import moto_hooks
from scones.workflow.runtime import LocalWorkflowRunner


def _lambda_task(name: str, next_state: str | None = None, **fields) -> dict:
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
             "Parameters": {"FunctionName": name, "Payload.$": "$"}, **fields}
    return {**state, "Next": next_state} if next_state else {**state, "End": True}


@pytest.fixture
def threads_seen():
    """A runner whose functions record the thread they ran on, and the list they record into."""
    seen: list[tuple[int | None, int]] = []  # (the Map item's index, the thread)

    def probe(event, context=None):
        seen.append((event.get("index"), threading.get_ident()))
        time.sleep(event.get("sleep", 0))
        return {**event, "calls": event.get("calls", 0) + 1}

    with LocalWorkflowRunner({"probe": probe}) as runner:
        yield runner, seen


def test_copy_json_copies_every_level_and_hands_other_objects_to_deepcopy():
    class Box:
        def __init__(self):
            self.items = [1]

    value = {"a": [{"b": 1.5, "c": None}, "s", True], "box": Box(), "pair": (1, [2])}
    copied = moto_hooks.copy_json(value)
    assert copied == {**value, "box": copied["box"]} and copied["a"] is not value["a"]
    copied["a"][0]["b"] = 0
    copied["a"].append("new")
    assert value["a"] == [{"b": 1.5, "c": None}, "s", True], "the original is untouched"
    assert copied["box"] is not value["box"] and copied["box"].items == [1] and copied["box"].items is not value[
        "box"].items
    assert copied["pair"] == (1, [2]) and copied["pair"][1] is not value["pair"][1]


def test_event_timestamps_are_written_as_motos_are():
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    for moment in (datetime.datetime(2026, 12, 3, 18, 20, 14, 999999, tzinfo=datetime.UTC),
                   datetime.datetime(2026, 1, 2, 3, 4, 5, 1000), datetime.datetime(2026, 1, 2, 3, 4, 5, 999),
                   datetime.datetime(1999, 12, 31, 23, 59, 59)):
        assert moto_hooks.event_timestamp(moment) == iso_8601_datetime_with_milliseconds(moment)
    assert moto_hooks.event_timestamp()[:4] == iso_8601_datetime_with_milliseconds()[:4]


def test_a_runner_puts_every_hook_in_and_takes_every_one_out():
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.eval import states
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    before = (execute_state.Thread, execute_state.ExecutionState.__dict__["_evaluate_with_timeout"],
              event_manager.iso_8601_datetime_with_milliseconds, AmazonStateLanguageParser.__dict__["parse"])
    frozen = gc.get_freeze_count()
    with LocalWorkflowRunner({}):
        for name in moto_hooks._STATE_COPIERS:
            assert __import__(name, fromlist=["copy"]).copy.deepcopy is moto_hooks.copy_json, name
        assert execute_state.Thread is moto_hooks._ThreadUnlessInline
        assert event_manager.iso_8601_datetime_with_milliseconds is moto_hooks.event_timestamp
        assert gc.get_freeze_count() > frozen, "the heap as it stood is left out of full collections"
    assert states.copy is copy and all(__import__(n, fromlist=["copy"]).copy is copy for n in moto_hooks._STATE_COPIERS)
    after = (execute_state.Thread, execute_state.ExecutionState.__dict__["_evaluate_with_timeout"],
             event_manager.iso_8601_datetime_with_milliseconds, AmazonStateLanguageParser.__dict__["parse"])
    assert after == before and isinstance(after[3], staticmethod)
    assert gc.get_freeze_count() == frozen


def test_tasks_without_a_timeout_run_on_the_thread_that_reached_them(threads_seen):
    runner, seen = threads_seen
    arn = runner.create_machine(False, {"StartAt": "One", "States": {"One": _lambda_task("probe", "Two"),
                                                                     "Two": _lambda_task("probe")}}, name="two")
    described = runner.execute(arn, {})
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"])["calls"] == 2
    assert len(seen) == 2 and seen[0] == seen[1], "one thread: no thread started per task"
    assert seen[0][1] != threading.get_ident(), "the execution still runs on its own thread"


def test_a_task_with_a_timeout_keeps_its_thread_and_times_out(threads_seen):
    runner, seen = threads_seen
    arn = runner.create_machine(False, {"StartAt": "One", "States": {
        "One": _lambda_task("probe", "Slow"),
        "Slow": _lambda_task("probe", TimeoutSeconds=1)}}, name="slow")
    started = time.monotonic()
    described = runner.execute(arn, {"sleep": 0.0})
    assert described["status"] == "SUCCEEDED" and seen[0] != seen[1], "a timed task runs on a thread of its own"
    described = runner.execute(arn, {"sleep": 1.6})
    assert described["status"] == "FAILED" and described["error"] == "States.Timeout"
    assert time.monotonic() - started < 1.5 + 1.6 + 5


def test_a_map_of_tasks_runs_each_iteration_on_one_thread_and_answers_in_order(threads_seen):
    runner, seen = threads_seen
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "End": True,
        "Parameters": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
        "Iterator": {"StartAt": "One", "States": {"One": _lambda_task("probe", "Two"),
                                                  "Two": _lambda_task("probe", "Done"),
                                                  "Done": {"Type": "Pass", "End": True}}}}}}
    arn = runner.create_machine(False, definition, name="map")
    items = [{"n": i, "tags": ["x", {"deep": i}]} for i in range(12)]
    hooked = json.loads(runner.execute(arn, {"items": items})["output"])
    assert len(seen) == 24 and len(set(seen)) == 12, "each iteration's two tasks ran on one thread"
    assert hooked == [{"value": item, "index": i, "calls": 2} for i, item in enumerate(items)]
    hooked[0]["value"]["tags"][1]["deep"] = "changed"
    assert items[0]["tags"][1]["deep"] == 0


def test_s3_requests_in_a_run_route_without_reloading_motos_url_table(monkeypatch):
    from botocore.exceptions import ClientError
    from moto.s3 import models

    reloads = []
    real_reload = models.reload
    monkeypatch.setattr(models, "reload", lambda module: (reloads.append(module.__name__), real_reload(module))[1])
    with LocalWorkflowRunner({}) as runner:
        at_start = len(reloads)
        runner.put_image("a.png", b"png bytes")
        s3 = runner.images.client
        assert s3.get_object(Bucket=runner.images.name, Key="a.png")["Body"].read() == b"png bytes"
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket=runner.images.name, Key="gone.png")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"
        assert len(reloads) == at_start, "three requests, no reload"
    assert "urls" not in vars(models.S3Backend)


def test_full_collections_wait_while_executions_run_and_come_back_when_the_last_ends():
    from scones.workflow import runtime

    seen: list[int] = []

    def probe(event, context=None):
        seen.append(gc.get_threshold()[2])
        time.sleep(event.get("sleep", 0))
        return event

    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], 7)
    try:
        with LocalWorkflowRunner({"probe": probe}) as runner:
            arn = runner.create_machine(False, {"StartAt": "One", "States": {"One": _lambda_task("probe")}}, name="gc")
            long = threading.Thread(target=runner.execute, args=(arn, {"sleep": 1.0}))
            long.start()
            while not seen:
                time.sleep(0.01)
            assert runner.execute(arn, {})["status"] == "SUCCEEDED"
            assert gc.get_threshold()[2] == runtime._NEVER, "another execution still runs"
            long.join()
            assert seen == [runtime._NEVER, runtime._NEVER]
            assert gc.get_threshold()[2] == 7, "the threshold as it was before the first execution"
    finally:
        gc.set_threshold(*before)

"""Where the local workflow reaches into moto 5.2.5 (its Step Functions interpreter, its S3), all in one place.

moto runs the state machine JSON (LocalStack's ASL parser and executor, vendored); these hooks
change how fast it runs and who runs its Lambda tasks, never what a definition means. Each one
patches a private name of moto 5.2.5 (pinned); ``tests/inference_workflow/test_definition.py``
fails if a name moves, and each hook has a test that fails when it is undone. Measured on 2 cores
(a Map item cost about 17 ms of CPU before the last four):

- :func:`lambdas_in_process`: Lambda tasks call the Python handlers (moto runs none without Docker);
- :func:`cached_json_paths`: a JSONPath parses once, not once per evaluation (over half the time);
- :func:`cached_definitions`: a definition parses once, not once per execution (half a single run);
- :func:`defer_moto_batch`: moto's EC2 tables load only if Batch is used (0.9 s of a first command);
- :func:`reported_endings` / :func:`wait_for_end`: an execution's end is told, not polled (2 ms a poll);
- :func:`forget_finished_threads`: moto's list of every thread it ever started stops growing;
- :func:`json_state_copies`: state values are JSON, so they are copied as JSON (1.7 -> 0.8 ms an item);
- :func:`tasks_on_calling_thread`: a task with no timeout runs on its caller's thread, not a new one;
- :func:`plain_event_timestamps`: history timestamps are formatted without ``strftime`` (0.5 ms an item);
- :func:`s3_urls_read_once`: moto's S3 reads its URL table once, not twice per request (0.4 ms a request).

Two more speed-ups of a local run live beside their subjects: the serializer's and the runner's S3 client
(:mod:`scones.workflow.world_s3`) and the heap frozen while a runner is open (``runtime._freeze_heap``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, Protocol


class LambdaService(Protocol):
    def invoke(self, parameters: dict, region: str = "us-east-1", state_credentials: Any = None) -> dict: ...


@contextlib.contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` for the duration, then exactly what it was (a class's staticmethod stays one)."""
    original = vars(owner)[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def _added(owner: type, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` for the duration, where ``owner`` inherits ``name`` and does not define it."""
    if name in vars(owner):
        raise RuntimeError(f"{owner.__name__}.{name} is its own now; the hook expects it inherited")
    setattr(owner, name, value)
    try:
        yield
    finally:
        delattr(owner, name)


def local_run_hooks(lambdas: LambdaService) -> contextlib.ExitStack:
    """Every hook a local run uses, entered in order; close the stack to undo them all."""
    stack = contextlib.ExitStack()
    try:
        for hook in (lambdas_in_process(lambdas), cached_json_paths(), cached_definitions(), reported_endings(),
                     json_state_copies(), tasks_on_calling_thread(), plain_event_timestamps(), s3_urls_read_once()):
            stack.enter_context(hook)
    except BaseException:
        stack.close()
        raise
    return stack


@contextlib.contextmanager
def lambdas_in_process(lambdas: LambdaService) -> Iterator[LambdaService]:
    """Route the interpreter's Lambda tasks to ``lambdas`` for the duration."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    with _replaced(lambda_eval_utils, "_invoke_lambda_function", lambdas.invoke):
        yield lambdas


@contextlib.contextmanager
def cached_json_paths() -> Iterator[None]:
    """Parse each JSONPath once: moto's interpreter builds a new PLY parser per evaluation.

    Measured on 2 cores: that rebuild was over half of the interpreter's time per
    image. Parsed paths are immutable, so one cache serves every thread. The
    hooks are moto 5.2.5's two ``parse`` imports.
    """
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    with (_replaced(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.parse)),
          _replaced(result_path, "parse", functools.lru_cache(maxsize=4096)(result_path.parse))):
        yield


class _PackageOnFirstUse(types.ModuleType):
    """A package registered without running its ``__init__``: that runs when something asks it for a name."""

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType  # a plain module from now on
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def defer_moto_batch() -> None:
    """Let moto's Step Functions interpreter import ``moto.batch.utils`` without ``moto.batch``'s package init.

    Why: the interpreter's Batch task type imports an enum from ``moto.batch.utils``; importing that
    runs ``moto/batch/__init__.py``, which imports moto's EC2 models, which build their region tables
    from three fresh botocore sessions: 0.9 s, a third of ``scones classify`` on five photos. The
    package is registered with its path only; its init runs the first time anything asks it for a
    name (``moto.batch.batch_backends``, when a Batch API call is mocked), so Batch still works.
    """
    if "moto.batch" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)
    package.__class__ = _PackageOnFirstUse
    sys.modules["moto.batch"] = package
    sys.modules["moto"].batch = package  # as an import binds a subpackage to its parent


@contextlib.contextmanager
def cached_definitions() -> Iterator[None]:
    """Parse each state machine definition once: moto's interpreter parses it with ANTLR, in Python,
    when the machine is created and again at the start of every execution.

    Measured on 2 cores: that parse was half of a single-image execution. The parsed program is
    evaluated with all per-execution state in the execution's environment (a Map already runs one
    parsed iterator on many threads at once), so one parse serves every execution. The hook is
    moto 5.2.5's ``AmazonStateLanguageParser.parse``.
    """
    defer_moto_batch()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse_once = functools.lru_cache(maxsize=64)(AmazonStateLanguageParser.__dict__["parse"].__func__)
    with _replaced(AmazonStateLanguageParser, "parse", staticmethod(parse_once)):
        yield


#: The executions that have ended and not yet been waited for (see :func:`reported_endings`).
_ENDED: set[str] = set()
_ENDINGS = threading.Condition()


@contextlib.contextmanager
def reported_endings() -> Iterator[None]:
    """Tell :func:`wait_for_end` the moment moto has recorded an execution's end: status, output, error, cause.

    Why: DescribeExecution in a loop is a boto3 request served by moto in this process each time,
    2 ms of the interpreter lock taken from the execution itself (a single-image execution took
    54 ms polled that way); and moto sets the status before the output, so reading its record
    the moment the status changes can see a SUCCEEDED execution with no output yet. The hook is
    moto 5.2.5's ``BaseExecutionWorkerCommunication.terminated``.
    """
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self) -> None:
        try:
            original(self)
        finally:
            with _ENDINGS:
                _ENDED.add(self.execution.exec_arn)
                _ENDINGS.notify_all()

    try:
        with _replaced(BaseExecutionWorkerCommunication, "terminated", terminated):
            yield
    finally:
        with _ENDINGS:
            _ENDED.clear()


def wait_for_end(execution_arn: str, timeout: float) -> bool:
    """Wait until moto has recorded the execution's end; False after ``timeout`` seconds."""
    with _ENDINGS:
        ended = _ENDINGS.wait_for(lambda: execution_arn in _ENDED, timeout)
        _ENDED.discard(execution_arn)
    return ended


def forget_finished_threads() -> None:
    """Drop finished threads from moto's ``TMP_THREADS``, to which its interpreter appends the thread of every
    execution, task state and Map iteration and never removes one: about 6 per image, for as long as the
    process lives (a dashboard classifying uploads for days). Nothing reads the list."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any, memo: dict | None = None) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars) without ``copy.deepcopy``'s per-object memo and
    dispatch; anything else inside is handed to ``copy.deepcopy``. A state value is what ``json.loads`` made
    of an input or a result, so it has no cycles and no sharing that a copy would have to keep."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value, memo)


#: moto's modules that deep-copy state values: the state's input and result, a string expression's value,
#: ResultPath's merge, a task's frame and its parameters. Each does ``import copy`` and calls ``copy.deepcopy``.
_STATE_COPIERS = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)


@contextlib.contextmanager
def json_state_copies() -> Iterator[None]:
    """Copy state values with :func:`copy_json` where moto's interpreter copies them with ``copy.deepcopy``.

    Why: moto copies a value each time a state reads its input, sets its result or passes a frame on,
    about 90 copies per Map item; ``copy.deepcopy`` cost 1.7 ms of CPU per item, :func:`copy_json` 0.8.
    The hook gives each of those modules a ``copy`` whose ``deepcopy`` is :func:`copy_json`.
    """
    json_copy = types.SimpleNamespace(deepcopy=copy_json, copy=copy.copy)
    with contextlib.ExitStack() as stack:
        for name in _STATE_COPIERS:
            stack.enter_context(_replaced(importlib.import_module(name), "copy", json_copy))
        yield


_INLINE = threading.local()


class _ThreadUnlessInline(threading.Thread):
    """moto's per-task thread, except when :func:`tasks_on_calling_thread` has said this task needs none:
    then ``start`` runs the target at once, on the caller's thread, and the thread is never alive."""

    def start(self) -> None:
        self._inline = getattr(_INLINE, "task", False)
        _INLINE.task = False
        if self._inline:
            self._target(*self._args, **self._kwargs)
        else:
            super().start()

    def is_alive(self) -> bool:
        return not getattr(self, "_inline", False) and super().is_alive()


@contextlib.contextmanager
def tasks_on_calling_thread() -> Iterator[None]:
    """Run a task state on the thread that reached it when it has no timeout to enforce.

    Why: moto starts a thread per task state so that it can stop waiting after ``TimeoutSeconds``;
    the caller only waits for it. Without ``TimeoutSeconds``, ``TimeoutSecondsPath`` or a heartbeat
    there is nothing to stop waiting for (moto's default is 99999999 s), so the thread's start, its
    event and the hand-over of the interpreter lock are pure cost: three per Map item. A task with a
    timeout keeps its thread, so ``States.Timeout`` is raised as before. The hooks are moto 5.2.5's
    ``ExecutionState._evaluate_with_timeout`` and its module's ``Thread``.
    """
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    evaluate = execute_state.ExecutionState._evaluate_with_timeout

    def evaluate_inline_when_untimed(self, env) -> None:
        _INLINE.task = (type(self.timeout) is TimeoutSeconds and self.heartbeat is None
                        and self.timeout.timeout_seconds == TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS)
        try:
            evaluate(self, env)
        finally:
            _INLINE.task = False

    with (_replaced(execute_state, "Thread", _ThreadUnlessInline),
          _replaced(execute_state.ExecutionState, "_evaluate_with_timeout", evaluate_inline_when_untimed)):
        yield


@contextlib.contextmanager
def s3_urls_read_once() -> Iterator[None]:
    """Route S3 requests with the URL table moto's S3 has when the hook goes in, not one rebuilt per request.

    Why: moto's ``S3Backend._url_module`` reloads ``moto.s3.urls`` on every access, so that a change to
    ``MOTO_S3_CUSTOM_ENDPOINTS`` takes effect at once, and ``urls`` reads it twice: 390 µs of CPU per S3
    request, one GetObject per image (and one PutObject per photo a user classifies). Here the table is
    read when the runner starts, so custom endpoints are those of that moment. The hook is moto 5.2.5's
    ``S3Backend`` (its ``urls``, inherited from ``BaseBackend``).
    """
    from moto.s3.models import S3Backend

    table = S3Backend.urls.fget(S3Backend.__new__(S3Backend))  # reads the module; the backend holds no state in it
    with _added(S3Backend, "urls", property(lambda backend: table)):
        yield


def event_timestamp(value: datetime.datetime | None = None) -> str:
    """``2026-12-03T18:20:14.123Z``: moto's ``iso_8601_datetime_with_milliseconds``, without ``strftime``
    (21 µs a call in a running Map, 25 calls per item: its history events)."""
    value = value or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z")


@contextlib.contextmanager
def plain_event_timestamps() -> Iterator[None]:
    """Format the execution history's timestamps with :func:`event_timestamp`. The hook is moto 5.2.5's
    ``event_manager.iso_8601_datetime_with_milliseconds`` import."""
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    with _replaced(event_manager, "iso_8601_datetime_with_milliseconds", event_timestamp):
        yield

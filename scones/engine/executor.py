"""A Docker-free local executor for SageMaker pipeline definitions.

It executes the **definition JSON** -- the exact document ``Pipeline.definition()``
renders and SageMaker receives -- rather than the SDK's Python objects:
a DAG from ``DependsOn`` and ``Get`` references, an evaluator for parameters,
execution variables, step properties, ``Std:Join`` and ``Std:JsonGet``
(:mod:`scones.engine.expressions`), processing and training jobs as subprocesses
with SageMaker's container conventions (:mod:`scones.engine.jobs`), conditions,
Fail and RegisterModel steps, and an ``s3://`` <-> folder artifact store.

Why this route and not ``sagemaker.local`` with its Docker runner replaced:
that route patches private SDK internals in five places (compose command,
compose runner, ECR login, the hard-coded step-type tuple that refuses
RegisterModel, a step executor), needs an in-process S3 fake at run time, and
runs the SDK's Python objects, so what runs locally is not what SageMaker
receives. Here there is no private hook at all; the cost is owning ~500 lines
whose input is a public, versioned format (``Version: 2020-12-01``). An
unsupported step type or expression fails loudly, naming it.

Step caching follows SageMaker's rule: a step with ``CacheConfig.Enabled`` and
the same arguments (execution-specific output paths aside) as an earlier
successful run within ``ExpireAfter`` reuses that run's outputs; here the input
data's content digest is part of the key too, so changed data never hits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scones.engine.expressions import PropertyFileRef, Resolver, evaluate_condition
from scones.engine.jobs import JobFailed, run_processing_job, run_training_job
from scones.engine.progress import ConsoleReporter, Reporter
from scones.engine.records import (
    EXECUTING,
    FAILED,
    NOT_EXECUTED,
    STOP_MARKER,
    STOPPED,
    STOPPING,
    SUCCEEDED,
    ExecutionRecord,
    StepRecord,
)
from scones.engine.request_shapes import step_request_errors, validation_message
from scones.engine.retry import policy_errors, retry_delay
from scones.engine.selective import Selection, checked_selection, mark_unselected
from scones.engine.stopping import STOP
from scones.errors import Conflict, InvalidInput, NotFound, SconesError, StepFailed, Unsupported
from scones.notify import Notifier
from scones.registry import PENDING, ModelRegistry
from scones.store import ArtifactStore

DEFINITION_FILE = "definition.json"  # the definition an execution ran, kept in its folder (retry reads it)
_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_\-]+)")


@dataclass
class StepNode:
    name: str
    type: str
    definition: dict
    depends_on: list[str]
    branch: tuple[str, bool] | None = None  # (condition step, outcome that runs this step)


def _property_references(value: Any) -> set[str]:
    """Every ``{"Get": "Steps.X..."}`` path in ``value``."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str) and value["Get"].startswith("Steps."):
            found.add(value["Get"])
        for item in value.values():
            found |= _property_references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _property_references(item)
    return found


def _references(value: Any) -> set[str]:
    """The names of the steps ``value`` reads properties of."""
    matches = (_STEP_REFERENCE.match(path) for path in _property_references(value))
    return {match.group(1) for match in matches if match}


def build_graph(definition: dict) -> list[StepNode]:
    """All steps (condition branches included) in a dependency-respecting order."""
    nodes: dict[str, StepNode] = {}

    def add(step: dict, branch: tuple[str, bool] | None) -> None:
        name = step["Name"]
        if name in nodes:
            raise InvalidInput(f"step name {name!r} appears twice in the definition")
        arguments = {k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")}
        if step.get("Type") == "Condition":
            arguments = {"Conditions": step.get("Arguments", {}).get("Conditions", [])}
        depends = set(step.get("DependsOn", [])) | _references(arguments)
        if branch:
            depends.add(branch[0])
        depends.discard(name)
        nodes[name] = StepNode(name, step.get("Type", ""), step, sorted(depends), branch)
        if step.get("Type") == "Condition":
            for child in step.get("Arguments", {}).get("IfSteps", []):
                add(child, (name, True))
            for child in step.get("Arguments", {}).get("ElseSteps", []):
                add(child, (name, False))

    for step in definition.get("Steps", []):
        add(step, None)
    for node in nodes.values():
        unknown = [d for d in node.depends_on if d not in nodes]
        if unknown:
            raise InvalidInput(f"step {node.name!r} depends on unknown step(s) {unknown}")
    ordered: list[StepNode] = []
    placed: set[str] = set()
    remaining = list(nodes.values())
    while remaining:
        ready = [n for n in remaining if set(n.depends_on) <= placed]
        if not ready:
            raise InvalidInput(f"dependency cycle among steps {[n.name for n in remaining]}")
        for node in ready:
            ordered.append(node)
            placed.add(node.name)
        remaining = [n for n in remaining if n.name not in placed]
    return ordered


_PARAMETER_TYPES: dict[str, Callable[[Any], Any]] = {
    "String": str, "Integer": int, "Float": float,
    "Boolean": lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes"),
}


def resolve_parameters(definition: dict, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults from the definition, overridden by the caller, typed as declared."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise InvalidInput(f"unknown pipeline parameter(s) {unknown}; the pipeline has {sorted(declared)}")
    values = {}
    for name, spec in declared.items():
        if name in overrides:
            try:
                values[name] = _PARAMETER_TYPES[spec.get("Type", "String")](overrides[name])
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"parameter {name} must be {spec.get('Type')}, got {overrides[name]!r}") from exc
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise InvalidInput(f"parameter {name} has no default; pass a value for it")
        allowed = spec.get("EnumValues")
        if allowed and str(values[name]) not in [str(v) for v in allowed]:  # SageMaker checks them at start
            shown = ", ".join(map(str, allowed[:8])) + (f", ... ({len(allowed) - 8} more)" if len(allowed) > 8 else "")
            raise InvalidInput(f"ValidationException (StartPipelineExecution): parameter {name} value "
                               f"{values[name]!r} is not one of its EnumValues [{shown}]; EnumValues are fixed "
                               "when the definition is rendered: render with get_pipeline's arguments "
                               "(--kwargs) for other values")
    return values


def _expiry_seconds(duration: str) -> float:
    """ISO 8601 durations as SageMaker's ExpireAfter uses them (PnD, PTnH, PnW, PnM, PnY)."""
    match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?",
                         duration or "")
    if not match:
        return 0.0
    y, mo, w, d, h, mi, s = (int(g or 0) for g in match.groups())
    return ((((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60) + s


@dataclass
class _Context:
    record: ExecutionRecord
    definition: dict
    resolver: Resolver
    folder: Path
    nodes: dict[str, StepNode] = field(default_factory=dict)


class LocalPipelineExecutor:
    """Runs pipeline definitions on this machine against an artifact store and a registry."""

    def __init__(self, store: ArtifactStore, registry: ModelRegistry, runs_dir: Path,
                 reporter: Reporter | None = None, use_cache: bool = True, echo_logs: bool = False,
                 notifier: Notifier | None = None, live_version=None,
                 functions: Mapping[str, Callable[[Any, Any], Any]] | None = None,
                 max_parallel_steps: int | None = None):
        self.store = store
        self.notifier = notifier
        self.live_version = live_version  # () -> the version the endpoint serves, or None: what notices compare with
        if max_parallel_steps is not None and max_parallel_steps < 1:  # ParallelismConfiguration's minimum
            raise InvalidInput("ValidationException: ParallelismConfiguration.MaxParallelExecutionSteps must be at "
                               f"least 1, got {max_parallel_steps}")
        self.max_parallel_steps = max_parallel_steps  # None: every step whose dependencies have ended, at once
        self.functions = dict(functions or {})  # Lambda function name -> handler(event, context), for Lambda steps
        self.registry = registry
        self.runs_dir = Path(runs_dir)
        self.reporter = reporter or ConsoleReporter()
        self.use_cache = use_cache
        self.echo_logs = echo_logs
        self._handlers: dict[str, Callable[[_Context, StepNode, dict, StepRecord], dict]] = {
            "Processing": self._processing,
            "Training": self._training,
            "Condition": self._condition,
            "Fail": self._fail,
            "RegisterModel": self._register,
            "Tuning": self._tuning,
            "Model": self._model,
            "Transform": self._transform,
            "Lambda": self._lambda,
        }

    # ------------------------------------------------------------------ running

    def start(self, definition: dict | str, pipeline_name: str, parameters: dict[str, Any] | None = None,
              execution_id: str | None = None, selection: Selection | None = None) -> ExecutionRecord:
        """Execute a definition to the end; returns the record (Succeeded, Failed or Stopped).

        With a ``selection`` only its steps run (SageMaker's selective execution); the others
        keep the outputs of the selection's source execution.
        """
        if isinstance(definition, str):
            definition = json.loads(definition)
        nodes = self._runnable_graph(definition)
        if selection is not None:
            checked_selection({n.name: n.depends_on for n in nodes}, pipeline_name, selection)
        values = resolve_parameters(definition, parameters)
        execution_id = execution_id or secrets.token_hex(6)
        folder = self.runs_dir / pipeline_name / execution_id
        arn = f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline_name.lower()}/execution/{execution_id}"
        record = ExecutionRecord(pipeline_name, execution_id, arn, values, started=time.time(), folder=str(folder),
                                 steps=[StepRecord(n.name, n.type, depends_on=n.depends_on) for n in nodes])
        if selection is not None:
            mark_unselected(record, selection)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DEFINITION_FILE).write_text(json.dumps(definition, indent=1), encoding="utf-8")
        return self._execute(record, definition, nodes)

    def retry(self, record: ExecutionRecord) -> ExecutionRecord:
        """``RetryPipelineExecution``: the same execution again from its failed or stopped steps.

        What succeeded keeps its outputs; the rest runs with the execution's own definition and
        parameters (not today's), as SageMaker retries it.
        """
        if record.status not in (FAILED, STOPPED):
            raise Conflict(f"execution {record.execution_id} is {record.status}; only a Failed or Stopped "
                           "execution can be retried")
        definition = json.loads((Path(record.folder) / DEFINITION_FILE).read_text(encoding="utf-8"))
        nodes = self._runnable_graph(definition)
        for step in record.steps:
            if step.status != SUCCEEDED and not step.reused_from:
                step.status, step.started, step.ended, step.failure_reason = "Pending", None, None, ""
                step.summary, step.log_tail, step.properties = "", [], {}
        record.status, record.failure_reason, record.ended = EXECUTING, "", None
        record.attempts += 1
        record.pid, record.host = os.getpid(), socket.gethostname()
        (Path(record.folder) / STOP_MARKER).unlink(missing_ok=True)  # the earlier stop is history
        return self._execute(record, definition, nodes)

    def _runnable_graph(self, definition: dict) -> list[StepNode]:
        nodes = build_graph(definition)
        for node in nodes:
            if node.type not in self._handlers:
                raise Unsupported(f"step {node.name!r} has type {node.type!r}, which the local engine does not "
                                  f"run (supported: {sorted(self._handlers)})")
            refused = policy_errors(node.type, node.definition.get("RetryPolicies")) + \
                self._reference_errors(node, {n.name: n for n in nodes})
            if refused:  # SageMaker refuses the definition itself: nothing runs
                raise InvalidInput(f"ValidationException (CreatePipeline): step {node.name}: " + "; ".join(refused))
        return nodes

    @staticmethod
    def _reference_errors(node: StepNode, nodes: dict[str, StepNode]) -> list[str]:
        """Property references to paths the referenced step's SageMaker answer does not have."""
        from scones.engine.expressions import path_tokens
        from scones.engine.request_shapes import property_path_error

        arguments = node.definition.get("Arguments", {})
        if node.type == "Condition":  # its branches' steps are checked as nodes of their own
            arguments = {"Conditions": arguments.get("Conditions", [])}
        errors = []
        for reference in sorted(_property_references([arguments, node.definition.get("FunctionArn")])):
            tokens = path_tokens(reference[len("Steps."):])
            target, rest = nodes.get(str(tokens[0])), tokens[1:]
            if target is None or rest[:1] == ["PropertyFiles"]:
                continue  # an unknown step is build_graph's error; property files are JsonGet's
            reason = property_path_error(target.definition, rest)
            if reason:
                errors.append(f"{{'Get': {reference!r}}}: {reason}")
        return errors

    def _execute(self, record: ExecutionRecord, definition: dict, nodes: list[StepNode]) -> ExecutionRecord:
        folder = Path(record.folder)
        execution_vars = {
            "PipelineExecutionId": record.execution_id, "PipelineExecutionArn": record.arn,
            "PipelineName": record.pipeline_name, "PipelineArn": record.arn.split("/execution/")[0],
            "StartDateTime": dt.datetime.now(dt.UTC).isoformat(),
            "CurrentDateTime": dt.datetime.now(dt.UTC).isoformat(),
        }
        ctx = _Context(record, definition, None, folder, {n.name: n for n in nodes})  # type: ignore[arg-type]
        ctx.resolver = Resolver(record.parameters, execution_vars, lambda name: self._properties(ctx, name),
                                lambda ref: self._read_property_file(ctx, ref), self._read_json)
        record.save()
        self.reporter.execution_started(record)
        self._run_all(ctx, nodes)
        if record.status in (EXECUTING, STOPPING):
            record.status = STOPPED if _stop_requested(record) else SUCCEEDED
        record.ended = time.time()
        record.save()
        self.reporter.execution_finished(record)
        if record.status == FAILED and self.notifier is not None:
            from scones.notify import messages

            self.notifier.send("pipeline_failed", *messages.pipeline_failed(record))
        return record

    def _run_all(self, ctx: _Context, nodes: list[StepNode]) -> None:
        """Each step starts once every step it depends on has ended, up to ``max_parallel_steps`` at a
        time: SageMaker's ``ParallelismConfiguration.MaxParallelExecutionSteps`` (unset: no limit)."""
        limit = self.max_parallel_steps or len(nodes)
        if limit <= 1:
            for node in nodes:
                self._run_node(ctx, node)
            return
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        pending, running = list(nodes), {}
        with ThreadPoolExecutor(limit, thread_name_prefix="step") as pool:
            while pending or running:
                ready = [n for n in pending if all(_ended(ctx.record.step(d)) for d in n.depends_on)]
                for node in ready[:limit - len(running)]:
                    pending.remove(node)
                    running[pool.submit(self._run_node, ctx, node)] = node
                if not running:  # cannot happen on an acyclic graph whose steps all end; never spin
                    raise InvalidInput(f"steps {[n.name for n in pending]} wait on steps that never ended")
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    future.result()  # an engine error (not a step failure) ends the run, as before

    def _run_node(self, ctx: _Context, node: StepNode) -> None:
        record = ctx.record
        step = record.step(node.name)
        if step.status == SUCCEEDED or (record.selective and node.name not in record.selected_steps):
            return  # done in an earlier attempt, or not selected
        blocked = [d for d in node.depends_on if not _available(record.step(d))]
        reason = ("the execution was stopped" if _stop_requested(record) else
                  "the execution already failed" if record.status != EXECUTING else
                  f"upstream {blocked} did not succeed" if blocked else
                  "the condition chose the other branch" if not self._branch_taken(ctx, node) else "")
        if reason:
            step.status, step.summary = NOT_EXECUTED, reason
            record.save()
            return
        step.status, step.started = EXECUTING, time.time()
        record.save()
        self.reporter.step_started(step)
        attempts = 1
        while True:
            try:
                arguments = ctx.resolver.resolve(node.definition.get("Arguments", {})) \
                    if node.type != "Condition" else {}
                refused = step_request_errors(node.type, arguments)
                if refused:  # SageMaker would not start this job: neither does the engine
                    raise InvalidInput(validation_message(node.type, refused))
                step.properties = self._handlers[node.type](ctx, node, arguments, step)
                step.status = SUCCEEDED
            except JobFailed as exc:
                wait = retry_delay(node.definition.get("RetryPolicies"), exc.exception_type, attempts,
                                   time.time() - step.started)
                if wait is not None and self._sleep_unless_stopped(record, wait):
                    self.reporter.log_line(step, f"attempt {attempts} failed ({exc.exception_type}: {exc.message}); "
                                                 f"retried after {wait:g} s by its retry policy")
                    failed_dir = ctx.folder / node.name
                    if failed_dir.exists():  # the next attempt starts from a clean container; the log is kept
                        failed_dir.rename(ctx.folder / f"{node.name}.attempt-{attempts}")
                    attempts += 1
                    continue
                self._fail_step(record, step, exc.message, exc.log_tail)
            except SconesError as exc:
                self._fail_step(record, step, exc.message, [])
            break
        if attempts > 1:
            step.summary = f"{step.summary} (attempt {attempts})".strip()
        if _stop_requested(record) and step.status == FAILED:  # however the job ended, its execution stopped it
            # Stopping, as SageMaker says while the other steps end: Stopped only once every step has its final
            # status (a reader polling for the end must not see a Stopped run with a step still Pending)
            step.status, record.status, record.failure_reason = STOPPED, STOPPING, ""
        step.ended = time.time()
        record.save()
        self.reporter.step_finished(step)

    @staticmethod
    def _sleep_unless_stopped(record: ExecutionRecord, seconds: float) -> bool:
        """Wait before a retry; False when the execution is stopped meanwhile (then no retry)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _stop_requested(record):
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return not _stop_requested(record)

    @staticmethod
    def _fail_step(record: ExecutionRecord, step: StepRecord, reason: str, tail: list[str]) -> None:
        step.status, step.failure_reason, step.log_tail = FAILED, reason, tail
        record.status = FAILED
        record.failure_reason = f"Step {step.name} failed: {reason}"

    @staticmethod
    def _branch_taken(ctx: _Context, node: StepNode) -> bool:
        if node.branch is None:
            return True
        condition, wanted = node.branch
        return ctx.record.step(condition).properties.get("Outcome") is wanted

    def _properties(self, ctx: _Context, name: str) -> dict:
        try:
            step = ctx.record.step(name)
        except KeyError:
            raise InvalidInput(f"reference to unknown step {name!r}") from None
        if not _available(step):
            raise InvalidInput(f"step {name!r} has not succeeded; its properties are not available")
        return step.properties

    def _read_json(self, uri: str) -> Any:
        try:
            return json.loads(self.store.get_bytes(uri))
        except NotFound as exc:
            raise StepFailed(f"JsonGet: {exc.message}") from exc
        except ValueError as exc:
            raise StepFailed(f"JsonGet: {uri} is not JSON ({exc})") from exc

    def _read_property_file(self, ctx: _Context, ref: PropertyFileRef) -> Any:
        node = ctx.nodes.get(ref.step)
        files = {f["PropertyFileName"]: f for f in (node.definition.get("PropertyFiles", []) if node else [])}
        if ref.name not in files:
            raise InvalidInput(f"step {ref.step!r} declares no property file {ref.name!r}")
        spec = files[ref.name]
        outputs = self._properties(ctx, ref.step)["ProcessingOutputConfig"]["Outputs"]
        output = next((o for o in outputs if o["OutputName"] == spec["OutputName"]), None)
        if output is None:
            raise InvalidInput(f"property file {ref.name}: step {ref.step} has no output {spec['OutputName']!r}")
        return self._read_json(f"{output['S3Output']['S3Uri'].rstrip('/')}/{spec['FilePath']}")

    # ------------------------------------------------------------------ jobs and caching

    def _job_name(self, ctx: _Context, node: StepNode) -> str:
        return f"pipelines-{ctx.record.execution_id}-{node.name}"[:63]

    def _cache_key(self, ctx: _Context, node: StepNode, arguments: dict, input_uris: list[str]) -> str:
        """Arguments with inputs replaced by their content digests and this run's id masked.

        Upstream outputs may come from any earlier execution (a cache hit upstream),
        so inputs are keyed by what they hold, not where they are.
        """
        digests = {uri: f"content:{self.store.fingerprint(uri)}" for uri in set(input_uris)}

        def normalize(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: normalize(v) for k, v in value.items()}
            if isinstance(value, list):
                return [normalize(v) for v in value]
            if isinstance(value, str):
                return digests.get(value, value.replace(ctx.record.execution_id, "{exec}"))
            return value

        normalized = json.dumps(normalize(arguments), sort_keys=True, default=str)
        return hashlib.sha256(f"{node.type}\0{normalized}".encode()).hexdigest()

    def _cache_path(self, ctx: _Context, key: str) -> Path:
        return self.runs_dir / ".cache" / ctx.record.pipeline_name / f"{key}.json"

    def _cached(self, ctx: _Context, node: StepNode, key: str, outputs: list[str]) -> dict | None:
        config = node.definition.get("CacheConfig", {})
        path = self._cache_path(ctx, key)
        if not path.exists():
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
        if time.time() - entry["created"] > _expiry_seconds(config.get("ExpireAfter", "")):
            return None
        cached_outputs = [u.replace("{exec}", entry["execution_id"]) for u in outputs]
        if not all(self.store.list(u) for u in cached_outputs):
            return None  # the earlier outputs were deleted: run again
        return entry

    def _run_job(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord,
                 runner: Callable, input_uris: list[str], output_uris: list[str]) -> dict:
        caching = self.use_cache and node.definition.get("CacheConfig", {}).get("Enabled", False)
        key = self._cache_key(ctx, node, arguments, input_uris) if caching else ""
        exec_id = ctx.record.execution_id
        entry = self._cached(ctx, node, key, [u.replace(exec_id, "{exec}") for u in output_uris]) if caching else None
        if entry is not None:
            step.cached_from = entry["execution_id"]
            return entry["properties"]
        job_dir = ctx.folder / node.name
        step.log_path = str(job_dir / "job.log")
        echo = (lambda line: self.reporter.log_line(step, line)) if self.echo_logs else None
        properties = runner(self.store, self._job_name(ctx, node), arguments, job_dir, echo)
        if caching:
            path = self._cache_path(ctx, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"execution_id": exec_id, "created": time.time(), "properties": properties}),
                            encoding="utf-8")
        return properties

    # ------------------------------------------------------------------ step types

    def _processing(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        inputs = [i["S3Input"]["S3Uri"] for i in arguments.get("ProcessingInputs", []) if "S3Input" in i]
        outputs = [o["S3Output"]["S3Uri"] for o in arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        properties = self._run_job(ctx, node, arguments, step, run_processing_job, inputs, outputs)
        count = arguments.get("ProcessingResources", {}).get("ClusterConfig", {}).get("InstanceCount", 1)
        step.summary = " ".join(filter(None, [self._report_summary(outputs), _on_instances(count)]))
        return properties

    def _report_summary(self, output_uris: list[str]) -> str:
        """One line from a step's own report, for the console: what was quarantined and why, or the scores."""
        from scones.engine.summaries import summarize_outputs

        documents = {}
        for uri in output_uris:
            for name in ("report.json", "evaluation.json", "summary.json"):
                target = f"{uri.rstrip('/')}/{name}"
                if self.store.exists(target):
                    try:
                        documents[name] = json.loads(self.store.get_bytes(target))
                    except ValueError:
                        continue
        return summarize_outputs(documents)

    def _training(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        inputs = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in arguments.get("InputDataConfig", [])]
        submit = json.loads(arguments.get("HyperParameters", {}).get("sagemaker_submit_directory", "null") or "null")
        inputs += [submit] if submit else []
        properties = self._run_job(ctx, node, arguments, step, run_training_job, inputs, [])
        metrics = {m["MetricName"]: m["Value"] for m in properties.get("FinalMetricDataList", [])}
        count = arguments.get("ResourceConfig", {}).get("InstanceCount", 1)
        step.summary = " ".join([*(f"{k}={v:.4f}" for k, v in sorted(metrics.items())), _on_instances(count)]).strip()
        return properties

    def _tuning(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        from scones.engine.tuning import run_tuning_job

        lines: list[str] = []

        def log(line: str) -> None:
            lines.append(line)
            self.reporter.log_line(step, line)

        properties = run_tuning_job(self.store, f"tune-{ctx.record.execution_id}", arguments,
                                    ctx.folder / node.name, log)
        best = properties["BestTrainingJob"]
        metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
        step.summary = f"best {best['TrainingJobName']}: {metric['MetricName']}={metric['Value']:.4f}"
        step.log_tail = lines[-30:]
        return properties

    def _condition(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        results = [evaluate_condition(c, ctx.resolver) for c in node.definition["Arguments"].get("Conditions", [])]
        outcome = all(r for r, _ in results)
        step.summary = f"{' and '.join(text for _, text in results)}: {str(outcome).lower()}"
        return {"Outcome": outcome}

    def _fail(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        raise StepFailed(str(arguments.get("ErrorMessage", "FailStep reached")))

    def _register(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        container = arguments["InferenceSpecification"]["Containers"][0]
        statistics = arguments.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
        metrics = self._read_json(statistics["S3Uri"]) if statistics.get("S3Uri") else {}
        version = self.registry.register(
            group=arguments["ModelPackageGroupName"], model_data_url=container["ModelDataUrl"],
            image=container.get("Image", ""), metrics=metrics,
            status=arguments.get("ModelApprovalStatus", PENDING),
            description=arguments.get("ModelPackageDescription", ""),
            pipeline_execution=ctx.record.arn, environment=container.get("Environment", {}),
            metrics_uri=statistics.get("S3Uri", ""),
        )
        step.summary = f"model package {version.group}/{version.version} {version.status}"
        if self.notifier is not None:
            from scones.notify import messages

            self.notifier.send("model_registered", *messages.registration(self.registry, version, self.live_version))
        return {"ModelPackageArn": version.arn, "ModelPackageVersion": version.version,
                "ModelApprovalStatus": version.status, "ModelPackageGroupName": version.group}

    def _model(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        """CreateModel: the model is a name for its container; a Transform step serves it."""
        name = f"pipelines-{ctx.record.execution_id}-{node.name}"[:63]
        request = {"ModelName": name, **arguments}
        path = self._model_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(request), encoding="utf-8")
        container = arguments.get("PrimaryContainer") or (arguments.get("Containers") or [{}])[0]
        step.summary = f"model {name} serving {container.get('ModelDataUrl', '?')}"
        from scones.engine.request_shapes import echoed

        return {**echoed("DescribeModel", request), "ModelName": name,
                "ModelArn": f"arn:aws:sagemaker:local:000000000000:model/{name.lower()}", "CreationTime": time.time()}

    def _model_path(self, name: str) -> Path:
        return self.runs_dir / ".models" / f"{name}.json"

    def _transform(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        from scones.engine.transform import run_transform_job

        path = self._model_path(str(arguments["ModelName"]))
        if not path.exists():  # SageMaker's words for a model name it does not know
            raise InvalidInput("ValidationException (CreateTransformJob): Could not find model "
                               f'"{arguments["ModelName"]}".')
        model = json.loads(path.read_text(encoding="utf-8"))
        job_dir = ctx.folder / node.name
        step.log_path = str(job_dir / "job.log")
        echo = (lambda line: self.reporter.log_line(step, line)) if self.echo_logs else None
        properties = run_transform_job(self.store, self._job_name(ctx, node), arguments, model, job_dir, echo)
        written = self.store.list(arguments["TransformOutput"]["S3OutputPath"])
        count = arguments.get("TransformResources", {}).get("InstanceCount", 1)
        step.summary = " ".join(filter(None, [f"{len(written)} outputs", _on_instances(count)]))
        return properties

    def _lambda(self, ctx: _Context, node: StepNode, arguments: dict, step: StepRecord) -> dict:
        """The named function's handler, in-process, with the resolved arguments as its event."""
        from scones.engine.functions import invoke_for_step

        arn = ctx.resolver.resolve(node.definition.get("FunctionArn", ""))
        outputs = invoke_for_step(self.functions, str(arn), arguments, node.definition.get("OutputParameters", []))
        step.summary = ", ".join(f"{k}={v}" for k, v in outputs.items())[:200]
        return {"OutputParameters": outputs}


def _stop_requested(record: ExecutionRecord) -> bool:
    """A stop this process heard (SIGTERM), or one it could not hear: ``scones pipeline stop``'s marker.

    A run that ignores SIGTERM is killed with its jobs; the marker keeps it from recording the
    killed job as a failure in the moment between the two kills.
    """
    return STOP.requested() or (Path(record.folder) / STOP_MARKER).exists()


def _ended(step: StepRecord) -> bool:
    """Done one way or another: its dependents may now run, or be skipped."""
    return step.status not in ("Pending", EXECUTING, STOPPING)


def _available(step: StepRecord) -> bool:
    """A step whose outputs later steps may read: it succeeded here, or in the source of a selective run."""
    return step.status == SUCCEEDED or bool(step.reused_from and step.properties)


def _on_instances(count) -> str:
    """"(on 2 instances)" when a job was spread over several; nothing for the plain one."""
    return f"(on {int(count)} instances)" if int(count or 1) > 1 else ""

"""``scones pipeline definition|run|upsert|start|status|list``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines._utils import DEFAULT_MODULE
from scones.commands import add_group, emit

EPILOG = """\
Examples:
  scones pipeline definition                      print the definition JSON (no network call)
  scones pipeline run                             run it here: no AWS account, no Docker
  scones pipeline run -p Epochs=3 -p AccuracyThreshold=0.9
  scones pipeline run --input ~/cifar-100-python.tar.gz
  scones pipeline run --input ~/photos -p ProcessingInstanceCount=2 -p TrainingInstanceCount=2
                                                  two instances share the ETL, the check and training
  scones pipeline status                          the latest local execution, step by step
  scones pipeline stop                            stop the running local execution (SIGTERM, then SIGKILL)
  scones pipeline retry ID                        run a Failed or Stopped execution again from where it ended
  scones pipeline run --from-execution ID --steps TrainModel
                                                  run only TrainModel, reading the other steps' outputs
                                                  (and by default the parameters) of execution ID
  scones pipeline upsert --role-arn ARN --kwargs '{"default_bucket": "my-bucket"}'
  scones pipeline start --role-arn ARN --wait --kwargs '{"default_bucket": "my-bucket"}'
"""


def parse_parameters(pairs: list[str], flag: str = "--param") -> dict[str, str]:
    """``NAME=VALUE`` pairs -> a dict; the names are checked against the definition later, by whoever runs it."""
    values = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"{flag} expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def _kwargs(text: str | None) -> dict:
    from pipelines._utils import convert_struct

    try:
        return convert_struct(text) or {}
    except ValueError as exc:
        raise SystemExit(f"--kwargs: {exc}") from None


def register(subparsers) -> None:
    group = add_group(subparsers, "pipeline", "SageMaker pipeline: render, run locally, upsert/start in AWS")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--module", default=DEFAULT_MODULE, help="pipeline module (default: %(default)s)")
        parser.add_argument("--kwargs", default=None,
                            help='get_pipeline keyword arguments as JSON, e.g. \'{"default_bucket": "b"}\'')

    definition = group.add_parser("definition", help="print the definition JSON (no network call)",
                                  description="Render the pipeline definition offline and print it.")
    common(definition)
    definition.add_argument("--output", type=Path, default=None, help="write to a file instead of stdout")
    definition.set_defaults(handler=_definition)

    run = group.add_parser("run", help="run the pipeline locally (default) or in SageMaker (--role-arn)",
                           description="Execute the same definition SageMaker would, on this machine: "
                                       "each job a subprocess with SageMaker's container conventions, the "
                                       "registration into the local registry. With --role-arn it upserts, "
                                       "starts and waits in SageMaker instead.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(run)
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="pipeline parameter override (repeatable)")
    run.add_argument("--input", type=Path, default=None,
                     help="a local CIFAR-100 tarball (or folder) to use as InputDataUrl")
    run.add_argument("--local", action="store_true", help="run locally (the default without --role-arn)")
    run.add_argument("--role-arn", default=None, help="run in SageMaker with this execution role")
    run.add_argument("--no-cache", action="store_true", help="ignore cached step results")
    run.add_argument("--logs", action="store_true", help="stream each job's log lines")
    run.add_argument("--steps", default=None, metavar="A,B",
                     help="selective execution: run only these steps (SageMaker's rules: every step between "
                          "two selected ones selected too)")
    run.add_argument("--from-execution", default=None, metavar="ID",
                     help="with --steps: the execution whose outputs the other steps keep (Succeeded or "
                          "Failed); its parameters are the defaults, -p overrides them")
    run.add_argument("--max-parallel", type=int, default=None, metavar="N",
                     help="at most N independent steps at once (SageMaker's ParallelismConfiguration; "
                          "default: every step whose inputs are ready)")
    run.add_argument("--execution-id", default=None, help=argparse.SUPPRESS)  # set by the launcher
    run.set_defaults(handler=_run)

    stop = group.add_parser("stop", help="stop an execution (local id, or a SageMaker ARN)",
                            description="Stop a local execution as SageMaker stops one: the running job gets "
                                        "SIGTERM and --grace seconds to end, then it is killed; the step and "
                                        "the execution end Stopped. A SageMaker ARN is stopped with "
                                        "StopPipelineExecution.")
    stop.add_argument("execution", nargs="?", default=None, help="execution id or ARN (default: the running one)")
    stop.add_argument("--grace", type=float, default=30.0, help="seconds before SIGKILL (default: %(default)s)")
    stop.set_defaults(handler=_stop)

    retry = group.add_parser("retry", help="retry a Failed or Stopped execution from its failed steps",
                             description="RetryPipelineExecution: the steps that succeeded keep their outputs; "
                                         "the others run again, with the execution's own definition and "
                                         "parameters. A SageMaker ARN is retried in SageMaker.")
    retry.add_argument("execution", help="execution id or ARN")
    retry.set_defaults(handler=_retry)

    upsert = group.add_parser("upsert", help="stage step code in S3 and create/update the pipeline in SageMaker")
    common(upsert)
    upsert.add_argument("--role-arn", required=True)
    upsert.add_argument("--tags", default=None, help='JSON list: [{"Key": "k", "Value": "v"}]')
    upsert.add_argument("--description", default=None)
    upsert.set_defaults(handler=_upsert)

    start = group.add_parser("start", help="start an execution in SageMaker (optionally wait with progress)")
    common(start)
    start.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    start.add_argument("--wait", action="store_true")
    start.add_argument("--poll-seconds", type=float, default=30.0)
    start.add_argument("--steps", default=None, metavar="A,B", help="selective execution: only these steps")
    start.add_argument("--from-execution", default=None, metavar="ARN",
                       help="with --steps: SelectiveExecutionConfig.SourcePipelineExecutionArn")
    start.add_argument("--max-parallel", type=int, default=None, metavar="N",
                       help="ParallelismConfiguration.MaxParallelExecutionSteps for this execution")
    start.set_defaults(handler=_start)

    status = group.add_parser("status", help="show an execution step by step (local, or an AWS ARN)")
    status.add_argument("execution", nargs="?", default=None,
                        help="local execution id or SageMaker execution ARN (default: latest local)")
    status.set_defaults(handler=_status)

    listing = group.add_parser("list", help="list local executions, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=_list)


def _definition(args: argparse.Namespace) -> int:
    from scones.engine.local_run import render_definition
    from scones.settings import Settings

    _, definition = render_definition(args.module, **Settings.from_env().pipeline_kwargs(_kwargs(args.kwargs)))
    emit(json.dumps(definition, indent=2), args.output)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.role_arn and not args.local:
        from scones import run_pipeline

        argv = ["--module-name", args.module, "--role-arn", args.role_arn]
        return run_pipeline.main(argv + (["--kwargs", args.kwargs] if args.kwargs else []))
    from scones.engine.local_run import run_local_pipeline
    from scones.serving.run import served_version
    from scones.settings import Settings

    settings = Settings.from_env()
    parameters = parse_parameters(args.param)
    selection = None
    if args.steps or args.from_execution:
        selection, parameters = _selection(settings, args, parameters)
    _stop_on_sigterm()
    record = run_local_pipeline(
        settings.store(), settings.registry(), settings.workspace.runs, settings.workspace.data,
        parameters=parameters, input_path=args.input, module_name=args.module, selection=selection,
        pipeline_kwargs=settings.pipeline_kwargs(_kwargs(args.kwargs)), use_cache=not args.no_cache,
        echo_logs=args.logs, max_parallel_steps=args.max_parallel,
        notifier=settings.notifier(), execution_id=args.execution_id,
        live_version=lambda: served_version(settings),
    )
    return 0 if record.status == "Succeeded" else 1


def _selected_steps(args: argparse.Namespace) -> list[str]:
    steps = [name.strip() for name in (args.steps or "").split(",") if name.strip()]
    if not steps:
        raise SystemExit("--from-execution needs --steps A,B: the steps to run")
    return steps


def _selection(settings, args: argparse.Namespace, parameters: dict[str, str]):
    """The local selective execution, and its parameters: the source's, overridden by ``-p``."""
    from scones.engine.records import find_execution
    from scones.engine.selective import Selection

    steps = _selected_steps(args)
    if not args.from_execution:
        return Selection(tuple(steps)), parameters
    source = find_execution(settings.workspace.runs, args.from_execution)
    return Selection(tuple(steps), source), {**{k: str(v) for k, v in source.parameters.items()}, **parameters}


def _stop_on_sigterm() -> None:
    """`scones pipeline stop` (or any SIGTERM) stops this run's jobs and ends it Stopped, not killed mid-write."""
    import signal
    import threading

    from scones.engine.stopping import STOP

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: STOP.request())


def _is_aws(execution: str | None) -> bool:
    return bool(execution and execution.startswith("arn:aws:sagemaker:") and ":local:" not in execution)


def _stop(args: argparse.Namespace) -> int:
    from scones.settings import Settings

    settings = Settings.from_env()
    if _is_aws(args.execution):
        from scones import pipeline_service

        pipeline_service.stop(settings.aws_client("sagemaker"), args.execution)
        print(f"stopping {args.execution}: `scones pipeline status {args.execution}` follows it")
        return 0
    from scones.engine.control import stop_execution
    from scones.engine.records import EXECUTING, STOPPING, find_execution, list_executions
    from scones.errors import NotFound

    if args.execution:
        record = find_execution(settings.workspace.runs, args.execution)
    else:
        record = next((r for r in list_executions(settings.workspace.runs) if r.status in (EXECUTING, STOPPING)),
                      None)
        if record is None:
            raise NotFound("no local execution is running: nothing to stop")
    print(f"stopping execution {record.execution_id} (pid {record.pid}; SIGKILL after {args.grace:g} s)")
    final = stop_execution(record, args.grace)
    stopped = [s.name for s in final.steps if s.status == "Stopped"]
    print(f"execution {final.execution_id} {final.status}" + (f": stopped {', '.join(stopped)}" if stopped else ""))
    return 0 if final.status == "Stopped" else 1


def _retry(args: argparse.Namespace) -> int:
    from scones.settings import Settings

    settings = Settings.from_env()
    if _is_aws(args.execution):
        from scones import pipeline_service

        pipeline_service.retry(settings.aws_client("sagemaker"), args.execution)
        print(f"retrying {args.execution}: `scones pipeline status {args.execution}` follows it")
        return 0
    from scones.engine.executor import LocalPipelineExecutor
    from scones.engine.records import find_execution
    from scones.serving.run import served_version

    record = find_execution(settings.workspace.runs, args.execution)
    executor = LocalPipelineExecutor(settings.store(), settings.registry(), settings.workspace.runs,
                                     notifier=settings.notifier(), live_version=lambda: served_version(settings))
    _stop_on_sigterm()
    return 0 if executor.retry(record).status == "Succeeded" else 1


def _aws_pipeline(args: argparse.Namespace):
    from pipelines._utils import get_pipeline_driver, get_step_code
    from pipelines.sdk import quiet_sdk_logs

    quiet_sdk_logs()
    from scones.settings import Settings

    kwargs = Settings.from_env().pipeline_kwargs(_kwargs(args.kwargs))
    if getattr(args, "role_arn", None):
        kwargs.setdefault("role", args.role_arn)
    return get_pipeline_driver(args.module, kwargs), get_step_code(args.module, kwargs)


def _upsert(args: argparse.Namespace) -> int:
    from pipelines._utils import convert_struct
    from scones import pipeline_service

    pipeline, code = _aws_pipeline(args)
    arn = pipeline_service.upsert(pipeline, args.role_arn, code, description=args.description,
                                  tags=convert_struct(args.tags))
    print(f"pipeline upserted: {arn}")
    return 0


def _start(args: argparse.Namespace) -> int:
    from scones import pipeline_service

    args.role_arn = None
    pipeline, _ = _aws_pipeline(args)
    client = pipeline.sagemaker_session.sagemaker_client
    selective = None
    if args.steps or args.from_execution:
        selective = {"SelectedSteps": [{"StepName": name} for name in _selected_steps(args)]}
        if args.from_execution:
            selective["SourcePipelineExecutionArn"] = args.from_execution
    arn = pipeline_service.start(client, pipeline.name, parse_parameters(args.param), selective=selective,
                                 max_parallel_steps=args.max_parallel)
    print(f"execution started: {arn}")
    if not args.wait:
        return 0
    return 0 if pipeline_service.wait(client, arn, poll_seconds=args.poll_seconds).status == "Succeeded" else 1


def _status(args: argparse.Namespace) -> int:
    if _is_aws(args.execution):
        from scones import pipeline_service
        from scones.settings import Settings

        status = pipeline_service.describe(Settings.from_env().aws_client("sagemaker"), args.execution)
        for step in status.steps:
            print(pipeline_service.format_step(step))
        print(f"{status.status} {status.failure_reason}".rstrip())
        return 0
    from scones.engine.progress import ConsoleReporter
    from scones.engine.records import list_executions
    from scones.settings import Settings

    records = list_executions(Settings.from_env().workspace.runs)
    if args.execution:
        records = [r for r in records if args.execution in (r.execution_id, r.arn)]
    if not records:
        print("no local pipeline executions" + (f" matching {args.execution}" if args.execution else ""))
        return 1
    record = records[0]
    reporter = ConsoleReporter()
    reporter.execution_started(record)
    for step in record.steps:
        if step.status != "NotExecuted":
            reporter.step_finished(step)
    reporter.execution_finished(record)
    print(f"parameters: {json.dumps(record.parameters)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import datetime as dt

    from scones.engine.records import list_executions
    from scones.settings import Settings

    records = list_executions(Settings.from_env().workspace.runs)[: args.limit]
    if not records:
        print("no local pipeline executions yet: try `scones pipeline run`")
        return 0
    for record in records:
        started = dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
        took = f"{(record.ended or record.started) - record.started:6.1f} s"
        print(f"{record.execution_id}  {started}  {record.status:<10} {took}  {record.pipeline_name}")
    return 0


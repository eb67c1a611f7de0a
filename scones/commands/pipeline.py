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
    run.add_argument("--execution-id", default=None, help=argparse.SUPPRESS)  # set by the launcher
    run.set_defaults(handler=_run)

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
    record = run_local_pipeline(
        settings.store(), settings.registry(), settings.workspace.runs, settings.workspace.data,
        parameters=parse_parameters(args.param), input_path=args.input, module_name=args.module,
        pipeline_kwargs=settings.pipeline_kwargs(_kwargs(args.kwargs)), use_cache=not args.no_cache,
        echo_logs=args.logs,
        notifier=settings.notifier(), execution_id=args.execution_id,
        live_version=lambda: served_version(settings),
    )
    return 0 if record.status == "Succeeded" else 1


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
    arn = pipeline_service.start(client, pipeline.name, parse_parameters(args.param))
    print(f"execution started: {arn}")
    if not args.wait:
        return 0
    return 0 if pipeline_service.wait(client, arn, poll_seconds=args.poll_seconds).status == "Succeeded" else 1


def _status(args: argparse.Namespace) -> int:
    if args.execution and args.execution.startswith("arn:aws:sagemaker:") and ":local:" not in args.execution:
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


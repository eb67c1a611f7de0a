"""``scones workflow definition|create|update|execute`` and ``scones classify``."""

from __future__ import annotations

import argparse
import json

from scones.commands import add_group

EPILOG = """\
Examples:
  scones workflow definition                    the single-image state machine (ASL JSON)
  scones workflow definition --batch            the Map over many S3 keys
  scones workflow create --role-arn ARN --topic-arn ARN --function ClassifyImage=ARN ...   (in AWS)
  scones workflow execute --input '{"s3_bucket": "b", "s3_key": "test/bicycle_s_000513.png"}'
"""

CLASSIFY_EPILOG = """\
Runs the same state machine as AWS, locally: moto's Step Functions interpreter, the three Lambda
handlers in-process, the classifier calling the local endpoint (start it: scones endpoint serve).

Examples:
  scones classify bike.png moped.jpg
  scones classify photos/ --threshold 0.99
  scones classify s3://scones-local/scones/data/some.png --allow-review
Exit status: 0 all passed; 1 some went to human review (unless --allow-review); 2 no endpoint.
"""


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    from inference_workflow.workflow_config import WorkflowConfig

    defaults = WorkflowConfig()
    tasks = ", ".join(f"{task.state} ({defaults.function(task)})" for task in defaults.tasks)
    parser.add_argument("--function", action="append", default=[], metavar="STATE=NAME_OR_ARN",
                        help=f"the function a task calls, by its state name (repeat per task); tasks and their "
                             f"default functions: {tasks}")
    parser.add_argument("--topic-arn", default=defaults.review_topic_arn, help="SNS topic for human review")
    parser.add_argument("--retry-interval", type=int, default=defaults.retry_interval_seconds)
    parser.add_argument("--retry-attempts", type=int, default=defaults.retry_max_attempts)
    parser.add_argument("--retry-backoff", type=float, default=defaults.retry_backoff_rate)
    parser.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency)
    parser.add_argument("--batch", action="store_true", help="the Map workflow over $.s3_keys")


def _config(args: argparse.Namespace):
    from inference_workflow.tasks import task_named
    from inference_workflow.workflow_config import WorkflowConfig
    from scones.errors import InvalidInput

    functions = {}
    for given in args.function:
        state, sep, function = given.partition("=")
        if not sep or not function:
            raise InvalidInput(f"--function {given!r}: expected STATE=NAME_OR_ARN, "
                               "e.g. ClassifyImage=scones-classifier")
        try:
            functions[task_named(state).state] = function
        except KeyError as exc:
            raise InvalidInput(f"--function {given!r}: {exc.args[0]}") from None
    return WorkflowConfig(functions=functions, review_topic_arn=args.topic_arn,
                          retry_interval_seconds=args.retry_interval, retry_max_attempts=args.retry_attempts,
                          retry_backoff_rate=args.retry_backoff, max_concurrency=args.max_concurrency)


def register(subparsers) -> None:
    group = add_group(subparsers, "workflow", "the inference state machine: definition, create, update, execute")
    definition = group.add_parser("definition", help="print the Amazon States Language JSON", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    _config_arguments(definition)
    definition.set_defaults(handler=_definition)
    for name, text in (("create", "create the state machine in AWS"), ("update", "update it in AWS")):
        parser = group.add_parser(name, help=text)
        _config_arguments(parser)
        parser.add_argument("--name", default="scones-inference")
        parser.add_argument("--role-arn", required=True, help="the state machine's execution role")
        parser.set_defaults(handler=_create if name == "create" else _update)
    execute = group.add_parser("execute", help="start an execution in AWS and wait for it")
    execute.add_argument("--state-machine-arn", required=True)
    execute.add_argument("--input", required=True, help='JSON, e.g. {"s3_bucket": "b", "s3_key": "k.png"}')
    execute.add_argument("--timeout", type=float, default=300)
    execute.set_defaults(handler=_execute)

    from scones.serving.run import DEFAULT_ENDPOINT

    classify = subparsers.add_parser("classify", help="run images through the inference workflow locally",
                                     epilog=CLASSIFY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="serialize -> classify -> filter, on this machine.")
    classify.add_argument("images", nargs="+", help="image files, folders, or s3:// URIs in the artifact store")
    classify.add_argument("--threshold", type=float, default=None,
                          help="confidence needed to pass (default: SCONES_THRESHOLD or the workflow's)")
    classify.add_argument("--allow-review", action="store_true", help="exit 0 even if images went to review")
    classify.add_argument("--endpoint-url", default=None, help="default: the running local endpoint")
    classify.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT)
    classify.add_argument("--single", action="store_true", help="one execution per image instead of one Map")
    classify.set_defaults(handler=_classify)


def _definition(args: argparse.Namespace) -> int:
    from pipelines.sdk import quiet_sdk_logs

    quiet_sdk_logs()
    from inference_workflow.workflow import definition

    print(json.dumps(definition(_config(args), args.batch), indent=2))
    return 0


def _workflow(args: argparse.Namespace):
    from pipelines.sdk import quiet_sdk_logs
    from scones.settings import Settings

    quiet_sdk_logs()
    from inference_workflow.workflow import workflow

    client = Settings.from_env().aws_client("stepfunctions")
    return workflow(args.name, args.role_arn, _config(args), args.batch, client=client)


def _create(args: argparse.Namespace) -> int:
    print(f"state machine created: {_workflow(args).create()}")
    return 0


def _update(args: argparse.Namespace) -> int:
    flow = _workflow(args)
    flow.state_machine_arn = next(
        m["stateMachineArn"] for m in flow.client.list_state_machines()["stateMachines"] if m["name"] == args.name)
    print(f"state machine updated: {flow.update(definition=flow.definition, role=args.role_arn)}")
    return 0


def _execute(args: argparse.Namespace) -> int:
    import time

    from scones.settings import Settings

    client = Settings.from_env().aws_client("stepfunctions")
    arn = client.start_execution(stateMachineArn=args.state_machine_arn, input=args.input)["executionArn"]
    deadline = time.monotonic() + args.timeout
    while (described := client.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            print(f"{arn} still running after {args.timeout:.0f} s")
            return 1
        time.sleep(1)
    print(json.dumps({k: described.get(k) for k in ("status", "output", "error", "cause")}, indent=2, default=str))
    return 0 if described["status"] == "SUCCEEDED" else 1


def _classify(args: argparse.Namespace) -> int:
    import sys

    from scones.serving.run import read_state
    from scones.settings import Settings
    from scones.workflow.classify import (
        classifier_capture,
        classify_images,
        format_result,
        read_sources,
        review_target,
    )

    settings = Settings.from_env()
    state = read_state(settings, args.endpoint_name) or {}
    url = args.endpoint_url or state.get("url")
    live = _live_status(url) if url else None
    if not live or not live.get("live"):
        print(f"no local endpoint serving a model{f' at {url}' if url else ''}: start one with "
              "`scones endpoint serve` (and approve a version), or pass --endpoint-url", file=sys.stderr)
        return 2
    try:
        images = read_sources(args.images, settings.store())
    except (OSError, ValueError) as exc:
        print(f"classify: {exc}", file=sys.stderr)
        return 2
    threshold = settings.threshold if args.threshold is None else args.threshold
    report = classify_images(images, url, args.endpoint_name, live["live"]["classes"], threshold,
                             batch=False if args.single else None,
                             cache_dir=settings.workflow_definitions, notifier=settings.notifier(),
                             review=review_target(settings), capture_uri=classifier_capture(settings))
    width = min(60, max(len(r.image) for r in report.results))
    for result in report.results:
        print(format_result(result, width))
    print(f"{len(report.passed)} passed, {len(report.review)} sent to human review "
          f"({report.review_notifications} SNS notifications) in {report.seconds:.2f} s; threshold {threshold}")
    return 1 if report.review and not args.allow_review else 0


def _live_status(url: str) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/scones/status", timeout=3) as response:  # noqa: S310 - local endpoint
            return json.loads(response.read())
    except OSError:
        return None

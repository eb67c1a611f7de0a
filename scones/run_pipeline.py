"""``run-pipeline``: AWS seed-code compatible driver -- upsert, start, wait, list steps.

A CodeBuild project made from AWS's SageMaker Projects template runs::

    run-pipeline --module-name pipelines.cifar.pipeline --role-arn $ROLE \\
        --tags '[{"Key": "sagemaker:project-name", "Value": "..."}]' \\
        --kwargs '{"region": "us-east-1", "role": "...", "default_bucket": "...", ...}'

and gets the same behaviour here, plus the step code upload that keeps the
definition free of local paths.
"""

from __future__ import annotations

import argparse
import sys

from pipelines._utils import add_driver_arguments, convert_struct


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Creates or updates and runs the pipeline for the pipeline script.")
    add_driver_arguments(parser)
    parser.add_argument("-role-arn", "--role-arn", dest="role_arn", required=True,
                        help="the role arn for the pipeline service execution role")
    parser.add_argument("-description", "--description", dest="description", default=None,
                        help="the description of the pipeline")
    parser.add_argument("-tags", "--tags", dest="tags", default=None,
                        help="""List of dict strings of '[{"Key": "string", "Value": "string"}, ..]'""")
    parser.add_argument("--no-wait", action="store_true", help="start the execution and return")
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from pipelines._utils import get_pipeline_driver, get_step_code
    from pipelines.sdk import quiet_sdk_logs
    from scones import pipeline_service

    quiet_sdk_logs()
    try:
        kwargs = convert_struct(args.kwargs) or {}
        tags = convert_struct(args.tags)
    except ValueError as exc:
        print(f"run-pipeline: {exc}", file=sys.stderr)
        return 2
    pipeline = get_pipeline_driver(args.module_name, kwargs)
    arn = pipeline_service.upsert(pipeline, args.role_arn, get_step_code(args.module_name, kwargs),
                                  description=args.description, tags=tags)
    print(f"pipeline upserted: {arn}")
    client = pipeline.sagemaker_session.sagemaker_client
    execution = pipeline_service.start(client, pipeline.name)
    print(f"execution started: {execution}")
    if args.no_wait:
        return 0
    status = pipeline_service.wait(client, execution, poll_seconds=args.poll_seconds)
    return 0 if status.status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())

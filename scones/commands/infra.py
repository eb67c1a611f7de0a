"""``scones infra template|package|review-flow``: the CloudFormation template, the Lambda zip, the A2I flow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scones.commands import add_group, emit

EPILOG = """\
Deploy:
  scones infra package --output lambda.zip && aws s3 cp lambda.zip s3://BUCKET/scones/lambda.zip
  scones infra template --output template.json
  aws cloudformation deploy --template-file template.json --stack-name scones \\
      --capabilities CAPABILITY_IAM --parameter-overrides ArtifactBucket=BUCKET
  scones infra review-flow --workteam arn:aws:sagemaker:REGION:ACCOUNT:workteam/private-crowd/TEAM \\
      --role-arn ROLE_FROM_STACK_OUTPUT_ReviewFlowRoleArn --output s3://BUCKET/scones/review
"""
REVIEW_FLOW_EPILOG = """\
CloudFormation has no resource type for Amazon A2I, so this makes, with the SageMaker API, what the
stack's review task expects: the worker task template (a human task UI, "<project>-review-ui": the
image, the model's top guesses, one choice per class plus "none of these" and "can't tell") and the
flow definition "<project>-review" (a custom task, one worker per image, your private workteam,
answers under --output, where `scones monitor report` reads ground truth). Run it again at will:
what exists as asked is left alone; a flow that differs is refused with the command that removes it.

Example:
  scones infra review-flow \\
      --workteam arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/scones \\
      --role-arn arn:aws:iam::123456789012:role/scones-ReviewFlowRole-ABC \\
      --output s3://my-bucket/scones/review
"""


def register(subparsers) -> None:
    group = add_group(subparsers, "infra", "infrastructure: CloudFormation template, Lambda package")
    template = group.add_parser("template", help="write the CloudFormation template (JSON)", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    template.add_argument("--output", type=Path, default=None, help="default: stdout")
    template.set_defaults(handler=_template)
    package = group.add_parser("package", help="zip the Lambda code", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    package.add_argument("--output", type=Path, default=Path("lambda.zip"))
    package.set_defaults(handler=_package)
    flow = group.add_parser("review-flow", help="create the A2I worker template and flow definition (human review)",
                            description="Create the A2I worker task template and flow definition for human review.",
                            epilog=REVIEW_FLOW_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    flow.add_argument("--workteam", required=True, help="private workteam ARN (SageMaker Ground Truth > Labeling "
                                                        "workforces > Private)")
    flow.add_argument("--role-arn", required=True, help="the role A2I runs as: the stack's ReviewFlowRoleArn output")
    flow.add_argument("--output", required=True, help="s3://BUCKET/<project>/review: where answers land")
    flow.add_argument("--project", default=None, help="the stack's ProjectName (default: scones)")
    flow.set_defaults(handler=_review_flow)


def _template(args: argparse.Namespace) -> int:
    from pipelines.sdk import quiet_sdk_logs

    quiet_sdk_logs()
    from scones.infra.template import build_template

    emit(json.dumps(build_template(), indent=1), args.output)
    return 0


def _package(args: argparse.Namespace) -> int:
    from scones.infra.package import build_lambda_zip

    path = build_lambda_zip(args.output)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def _review_flow(args: argparse.Namespace) -> int:
    from common import defaults
    from scones.infra.review_flow import ReviewFlow, set_up
    from scones.settings import Settings
    from scones.uris import S3Uri

    S3Uri.parse(args.output)  # a clear error for anything that is not s3://bucket/prefix
    flow = ReviewFlow(args.project or defaults.BASE_PREFIX, args.workteam, args.role_arn, args.output.rstrip("/"))
    done = set_up(Settings.from_env().aws_client("sagemaker"), flow)
    for what, name in (("task_ui", flow.ui_name), ("flow", flow.flow_name)):
        print(f"{'created' if done[what]['created'] else 'exists, unchanged:'} {name} {done[what]['arn']}")
    print(f"the review task's queue: REVIEW_QUEUE={done['review_queue']}")
    return 0

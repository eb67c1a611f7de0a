"""``scones infra template|package``: the CloudFormation template and the Lambda zip."""

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

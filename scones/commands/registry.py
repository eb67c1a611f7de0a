"""``scones registry groups|list|describe|approve|reject``."""

from __future__ import annotations

import argparse
import json
import sys

from scones.commands import add_group
from scones.errors import SconesError

EPILOG = """\
The backend comes from $SCONES_REGISTRY (default: the local SQLite registry under $SCONES_HOME);
use --registry sagemaker:// for SageMaker's Model Registry. Approving or rejecting emits a
"SageMaker Model Package State Change" event, which redeploys the endpoint.

Examples:
  scones registry list
  scones registry approve 3 --reason "beats v2 on the holdout"
  scones registry reject 3 --reason "confuses mopeds with bicycles"
"""


def register(subparsers) -> None:
    group = add_group(subparsers, "registry", "model registry: list, describe, approve, reject")

    def common(parser: argparse.ArgumentParser, version: bool = True) -> None:
        parser.add_argument("--registry", default=None, help="registry URI (default: $SCONES_REGISTRY or local)")
        parser.add_argument("--group", default=None, help="model package group (default: $SCONES_MODEL_GROUP)")
        if version:
            parser.add_argument("version", type=int, help="model package version number")

    groups = group.add_parser("groups", help="list model package groups")
    common(groups, version=False)
    groups.set_defaults(handler=_groups)
    listing = group.add_parser("list", help="versions with status and accuracy", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    common(listing, version=False)
    listing.set_defaults(handler=_list)
    describe = group.add_parser("describe", help="one version in full (JSON)")
    common(describe)
    describe.set_defaults(handler=_describe)
    for name, action in (("approve", "Approved"), ("reject", "Rejected")):
        parser = group.add_parser(name, help=f"mark a version {action} (emits the state-change event)",
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        common(parser)
        parser.add_argument("--reason", default="", help="approval description kept with the version")
        parser.set_defaults(handler=_set_status, status=action)


def _context(args: argparse.Namespace):
    from scones.settings import Settings

    settings = Settings.from_env()
    return settings.registry(args.registry), args.group or settings.model_group


def _guard(handler):
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except SconesError as exc:
            print(f"registry: {exc.message}", file=sys.stderr)
            return 1
    return run


@_guard
def _groups(args: argparse.Namespace) -> int:
    registry, _ = _context(args)
    for name in registry.list_groups():
        print(name)
    return 0


@_guard
def _list(args: argparse.Namespace) -> int:
    registry, group = _context(args)
    versions = registry.list_versions(group)
    print(f"{'version':>7}  {'status':<22} {'accuracy':>8}  {'created':<20} model")
    for v in versions:
        accuracy = f"{v.accuracy:.4f}" if v.accuracy is not None else "-"
        print(f"{v.version:>7}  {v.status:<22} {accuracy:>8}  {v.created[:19]:<20} {v.model_data_url}")
    if not versions:
        print(f"(no versions in {group} yet: `scones pipeline run` registers one)")
    return 0


@_guard
def _describe(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    registry, group = _context(args)
    print(json.dumps(asdict(registry.get_version(group, args.version)), indent=2))
    return 0


@_guard
def _set_status(args: argparse.Namespace) -> int:
    registry, group = _context(args)
    version = registry.set_status(group, args.version, args.status, args.reason)
    print(f"{group}/{version.version} is now {version.status}" + (f" ({args.reason})" if args.reason else ""))
    return 0

"""``scones registry groups|list|describe|approve|reject``."""

from __future__ import annotations

import argparse
import json
import sys

from common.defaults import APPROVED, REJECTED
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
    history = group.add_parser("history", help="who decided what about a version, when and why (oldest first)")
    common(history)
    history.set_defaults(handler=_history)
    compare = group.add_parser("compare", help="a version beside the newest other approved one: metrics, per class, "
                                               "data")
    common(compare)
    compare.set_defaults(handler=_compare)
    for name, action in (("approve", APPROVED), ("reject", REJECTED)):
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


@_guard
def _history(args: argparse.Namespace) -> int:
    registry, group = _context(args)
    for record in registry.history(group, args.version):
        print(f"{record.at:<22} {record.status:<22} {record.reason}")
    return 0


@_guard
def _compare(args: argparse.Namespace) -> int:
    from scones.registry.comparison import compare

    registry, group = _context(args)
    other = next((v for v in registry.approved_newest_first(group) if v.version != args.version), None)
    comparison = compare(registry.get_version(group, args.version), other)
    live = f"v{comparison.live.version} (approved)" if comparison.live else "(none approved)"
    print(f"{'':<30} {'v' + str(args.version):>12} {live:>16} {'delta':>9}")
    for row in comparison.metrics:
        delta = f"{row.delta:+.{row.digits}f}" if row.delta is not None else ""
        print(f"{row.name:<30} {row.text(row.candidate):>12} {row.text(row.live):>16} {delta:>9}")
    for item in comparison.per_class:
        f1 = item["candidate_f1"]
        old = item["live_f1"]
        print(f"  F1 {item['class']:<25} {'-' if f1 is None else f'{f1:.4f}':>12} "
              f"{'-' if old is None else f'{old:.4f}':>16}")
    if comparison.same_data is not None:
        print("same training data (dataset digest)" if comparison.same_data else "DIFFERENT training data")
    for note in comparison.notes:
        print(f"note: {note}")
    return 0

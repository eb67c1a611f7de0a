"""``scones gc``: delete old capture, run folders and registry events (retention)."""

from __future__ import annotations

import argparse

from scones import retention

EPILOG = f"""\
Keeps by default: {retention.CAPTURE_DAYS} days of endpoint data capture, the {retention.KEEP_RUNS} newest runs of
each pipeline, the {retention.KEEP_EVENTS:,} newest registry events. Never deletes a run that is still
executing, the step cache, stored models or registry versions.

Examples:
  scones gc --dry-run                 what would go, and how much space it frees
  scones gc --capture-days 7 --keep-runs 10
"""


def register(subparsers) -> None:
    gc = subparsers.add_parser("gc", help="free disk: old data capture, run folders, registry events",
                               description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    gc.add_argument("--capture-days", type=float, default=retention.CAPTURE_DAYS)
    gc.add_argument("--keep-runs", type=int, default=retention.KEEP_RUNS)
    gc.add_argument("--keep-events", type=int, default=retention.KEEP_EVENTS)
    gc.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    gc.set_defaults(handler=_gc)


def _gc(args: argparse.Namespace) -> int:
    from scones.serving.run import capture_root
    from scones.settings import Settings

    settings = Settings.from_env()
    results = [retention.prune_capture(capture_root(settings), args.capture_days, dry_run=args.dry_run),
               retention.prune_runs(settings.workspace.runs, args.keep_runs, dry_run=args.dry_run),
               retention.prune_events(settings.registry(), args.keep_events, dry_run=args.dry_run)]
    for result in results:
        print(result.line(args.dry_run))
    return 0

"""``scones review list|answer|export``: the human review queue from the command line."""

from __future__ import annotations

import argparse
import json

from scones.commands import add_group

EPILOG = """\
Images the workflow could not judge with confidence (or could not classify at all) wait here for a
person; each answer becomes ground truth for the capture record it judges. The queue is
$SCONES_REVIEW (default: sqlite:///$SCONES_HOME/review.db); answers are also written in Amazon
A2I's output format under s3://scones-local/scones/review/ in the artifact store.

Examples:
  scones classify photos/ --allow-review       some images go to review
  scones review list                           the queue, oldest first
  scones review list --json --status pending
  scones review answer r-1b98... motorcycle --reason "the engine is visible"
  scones review answer r-1b98... "none of these"
  scones review export                         stage answered images for the next pipeline run
  scones pipeline run                          ...which trains on them (the train split only)
  scones review export --output ~/reviewed     or write them as class folders to look at

Two reviewers who disagree leave an item "disputed" (no ground truth) until a further answer makes
one label the majority. A deterministic 20 % of answered items (--held-back) never go to
training, so live accuracy is never measured on images a model was trained on.
"""


def register(subparsers) -> None:
    group = add_group(subparsers, "review", "the human review queue: list, answer, export",
                      description="The human review queue: list, answer, export.\n\n" + EPILOG)
    listing = group.add_parser("list", help="items, oldest first", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("--json", action="store_true", help="one JSON document: a list of items")
    listing.add_argument("--status", choices=("pending", "answered", "disputed"), default=None)
    listing.set_defaults(handler=_list)
    answer = group.add_parser("answer", help="give an item its label", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    answer.add_argument("id", help="the item's id (scones review list)")
    answer.add_argument("label", help="one of the item's classes, 'none of these' or \"can't tell\"")
    answer.add_argument("--reason", default="", help="why (kept with the answer)")
    answer.add_argument("--reviewer", default=None, help="who answers (default: your user name, via the CLI)")
    answer.set_defaults(handler=_answer)
    export = group.add_parser("export", help="stage answered images for the next pipeline run (or into a folder)",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--output", default=None,
                        help="where to put them: an s3:// prefix is staged for the pipeline (its ReviewedDataUrl; "
                             "in AWS s3://BUCKET/<project>/reviewed with SCONES_STORE=s3://), a folder just gets "
                             "<class>/<item id>.<ext> (default: s3://scones-local/scones/reviewed, the local run's)")
    export.add_argument("--held-back", type=float, default=None,
                        help="share of answered items kept out of training for live evaluation (default 0.2)")
    export.set_defaults(handler=_export)


def _queue():
    from scones.settings import Settings

    settings = Settings.from_env()
    return settings, settings.review_queue()


def _list(args: argparse.Namespace) -> int:
    _, queue = _queue()
    items = queue.items(status=args.status)
    if args.json:
        print(json.dumps([item.to_dict() for item in items], indent=2))
        return 0
    if not items:
        print("the review queue is empty" + (f" (status {args.status})" if args.status else ""))
        return 0
    width = min(50, max(len(item.image) for item in items))
    for item in items:
        guess = f"{item.label} {item.confidence:.3f}" if item.label else "(no model answer)"
        answer = f" -> {item.answer}" if item.answer else ""
        print(f"{item.id}  {item.image[-width:]:<{width}}  {guess:<22} {item.status}{answer}  [{item.kind}] "
              f"{item.reason[:60]}")
    from scones.review import counts

    print(", ".join(f"{n} {status}" for status, n in counts(items).items()))
    return 0


def _answer(args: argparse.Namespace) -> int:
    import getpass

    _, queue = _queue()
    reviewer = args.reviewer or f"{getpass.getuser()} (cli)"
    item = queue.answer(args.id, args.label, reviewer, args.reason)
    agreed = f": ground truth {item.answer!r}" if item.answer else ": reviewers disagree, no ground truth yet"
    print(f"{item.id} answered {args.label!r} by {reviewer}; {item.status}{agreed}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scones.review.export import DEFAULT_HELD_BACK, export_answered, stage_answered

    settings, queue = _queue()
    held_back = DEFAULT_HELD_BACK if args.held_back is None else args.held_back
    target = args.output or settings.reviewed_data
    if target.startswith("s3://"):  # staged for the pipeline (in AWS: SCONES_STORE=s3://, the stack's bucket)
        result = stage_answered(queue, settings.store(), target, held_back)
    else:
        result = export_answered(queue, settings.store(), Path(target).expanduser(), held_back)
    print(f"exported {result.exported} answered images into {target} as class folders "
          f"({', '.join(f'{c} {n}' for c, n in sorted(result.per_class.items())) or 'none'}); "
          f"{result.held_back} held back for live evaluation, {len(result.skipped)} not exportable")
    for line in result.skipped[:10]:
        print(f"  skipped {line}")
    if target.startswith("s3://"):
        print("the next pipeline run trains on them (they join its train split)")
    return 0

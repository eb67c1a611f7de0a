"""``scones monitor report``: data capture -> confidence plots, class mix, drift against evaluation."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The exit code when a drift test fires (0: no drift, 1: an error), for schedulers and CI to act on.
DRIFT_EXIT_CODE = 3

EPILOG = """\
Exit codes: 0 no drift, 3 drift (and a notification is sent), 1 an error.

Reads SageMaker-format data capture (JSON Lines) from the local endpoint's capture folder, any
folder, or an s3:// prefix, and compares it with the evaluation of the model version that served it.

Examples:
  scones monitor report
  scones monitor report --capture s3://my-bucket/datacapture/scones-prod --threshold 0.9
  scones monitor report --hours 168          # the last week (default: the last 24 hours)
"""


def register(subparsers) -> None:
    from scones.commands import add_group

    group = add_group(subparsers, "monitor", "monitoring: confidence over time, class mix, drift")
    report = group.add_parser("report", help="write report.png + report.json from data capture", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("--capture", default=None, help="capture folder or s3:// prefix (default: local endpoint)")
    report.add_argument("--threshold", type=float, default=0.93)
    report.add_argument("--version", type=int, default=None,
                        help="model version whose evaluation is the reference (default: latest approved)")
    report.add_argument("--output", type=Path, default=None, help="default: $SCONES_HOME/monitor/")
    report.add_argument("--hours", type=float, default=24.0,
                        help="read the capture of the last N hours (default 24; 0 reads all of it)")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from scones.monitor.capture_reader import read_capture
    from scones.monitor.report import write_report
    from scones.serving.run import DEFAULT_ENDPOINT, capture_root
    from scones.settings import Settings

    settings = Settings.from_env()
    registry, group = settings.registry(), settings.model_group
    version = (registry.get_version(group, args.version) if args.version is not None
               else registry.latest_approved(group))
    evaluation = version.metrics if version else None
    classes = (evaluation or {}).get("evaluation", {}).get("classes") or ["bicycle", "motorcycle"]
    source = args.capture or str(capture_root(settings) / DEFAULT_ENDPOINT)
    if args.capture and "://" not in args.capture and not Path(args.capture).exists():
        from scones.errors import NotFound

        raise NotFound(f"capture folder {args.capture} does not exist; nothing was written (the default is the "
                       "local endpoint's capture)")
    import datetime as dt

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=args.hours) if args.hours > 0 else None
    scan = read_capture(source, settings.store(), since=since)
    output = args.output or settings.workspace.root / "monitor"
    report = write_report(scan, classes, args.threshold, evaluation, output)
    print(f"capture {source}: {report['files']} files, {report['lines']} lines, "
          f"{report['corrupt_lines']} corrupt (skipped), {report['predictions']} predictions")
    if report["predictions"]:
        print(f"  {report['below_threshold']} below the threshold {args.threshold} "
              f"({100 * report['share_below_threshold']:.1f} %); mean confidence {report['mean_confidence']:.3f}")
        print(f"  predicted: {report['predicted_counts']}; model versions seen: {report['model_versions']}")
    reference = f"v{version.version}" if version else "none (no approved version)"
    for test in report["drift"]:
        verdict = {True: "DRIFT", False: "ok", None: "n/a"}[test["drifted"]]
        p_value = f"p={test['p_value']:.4f}" if test["p_value"] is not None else ""
        print(f"  drift vs evaluation of {reference}, {test['name']} ({test['test']}): {verdict} {p_value} "
              f"- {test['note']}")
    print(f"  plot: {report['plot']}\n  report: {output / 'report.json'}")
    drifted = [test for test in report["drift"] if test["drifted"]]
    if not drifted:
        return 0
    from scones.notify import messages

    settings.notifier().send("drift", *messages.drift(source, reference, drifted, str(report["plot"])))
    print(f"DRIFT: {', '.join(t['name'] for t in drifted)}; exit code {DRIFT_EXIT_CODE}")
    return DRIFT_EXIT_CODE

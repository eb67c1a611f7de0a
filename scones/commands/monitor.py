"""``scones monitor report``: data capture -> confidence plots, class mix, drift against evaluation."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The exit code when a drift test fires (0: no drift, 1: an error), for schedulers and CI to act on.
DRIFT_EXIT_CODE = 3

EPILOG = """\
Exit codes: 0 no drift, 3 drift (a notification is sent; with --retrain a run starts), 1 an error
(also when --retrain is refused because a run of the pipeline is still going).

Reads SageMaker-format data capture (JSON Lines) from the local endpoint's capture folder, any
folder, or an s3:// prefix. The whole window is compared with the evaluation of the reference
version (default: the latest approved), and each model version seen in capture with its own.

Examples:
  scones monitor report
  scones monitor report --capture s3://my-bucket/datacapture/scones-prod --threshold 0.9
  scones monitor report --hours 168          # the last week (default: the last 24 hours)
  scones monitor report --retrain            # on drift, also start the pipeline again (in the background)
  scones monitor report --retrain --retrain-input ~/photos   # ... on the folder's current images
"""


def register(subparsers) -> None:
    from scones.commands import add_group

    group = add_group(subparsers, "monitor", "monitoring: confidence over time, class mix, drift")
    report = group.add_parser("report", help="write report.png + report.json from data capture", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("--capture", default=None, help="capture folder or s3:// prefix (default: local endpoint)")
    report.add_argument("--threshold", type=float, default=None,
                        help="confidence threshold (default: the workflow's, from settings)")
    report.add_argument("--version", type=int, default=None,
                        help="model version whose evaluation is the reference (default: latest approved)")
    report.add_argument("--output", type=Path, default=None, help="default: $SCONES_HOME/monitor/")
    report.add_argument("--hours", type=float, default=24.0,
                        help="read the capture of the last N hours (default 24; 0 reads all of it)")
    report.add_argument("--retrain", action="store_true",
                        help="on drift, start the training pipeline (the parameters of the run that built the "
                             "reference version, or the defaults) and print its execution id")
    report.add_argument("--retrain-input", type=Path, default=None,
                        help="with --retrain: the data file or folder to train on (staged afresh)")
    report.add_argument("--retrain-param", action="append", default=[], metavar="NAME=VALUE",
                        help="with --retrain: a pipeline parameter for the new run, over the reference run's "
                             "(repeatable), e.g. Epochs=30 or TrainingInstanceCount=2")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from scones.monitor.job import alert, check_drift
    from scones.serving.run import DEFAULT_ENDPOINT, capture_root
    from scones.settings import Settings

    settings = Settings.from_env()
    threshold = settings.threshold if args.threshold is None else args.threshold
    source = args.capture or str(capture_root(settings) / DEFAULT_ENDPOINT)
    if args.capture and "://" not in args.capture and not Path(args.capture).exists():
        from scones.errors import NotFound

        raise NotFound(f"capture folder {args.capture} does not exist; nothing was written (the default is the "
                       "local endpoint's capture)")
    output = args.output or settings.workspace.root / "monitor"
    check = check_drift(source, settings.store(), settings.registry(), settings.model_group, threshold, output,
                        args.hours, args.version)
    report, ref = check.report, check.reference
    print(f"capture {source}: {report['files']} files, {report['lines']} lines, "
          f"{report['corrupt_lines']} corrupt (skipped), {report['predictions']} predictions")
    if report["predictions"]:
        print(f"  {report['below_threshold']} below the threshold {threshold} "
              f"({100 * report['share_below_threshold']:.1f} %); mean confidence {report['mean_confidence']:.3f}")
        print(f"  predicted: {report['predicted_counts']}; model versions seen: {report['model_versions']}")
    _print_tests(f"vs evaluation of {ref.name}", report["drift"])
    if len(report["by_version"]) > 1:
        for version, section in report["by_version"].items():
            own = "its own evaluation" if version in ref.by_version else f"the evaluation of {ref.name}"
            print(f"  v{version}: {section['predictions']} predictions, verdict {section['verdict']} (vs {own})")
            _print_tests(f"v{version}", section["drift"], indent="    ")
    below = _model_quality(settings, check, output)
    print(f"  plot: {report['plot']}\n  report: {output / 'report.json'}")
    if below:
        from scones.notify import messages

        settings.notifier().send("model_quality", *messages.live_accuracy_low(below))
        print(f"LIVE ACCURACY BELOW EVALUATION: {', '.join('v' + v for v in below)}; exit code {DRIFT_EXIT_CODE}")
    if not check.drifted:
        return DRIFT_EXIT_CODE if below else 0
    alert(check, settings.notifier())
    print(f"DRIFT: {', '.join(t['name'] for t in check.drifted)}; exit code {DRIFT_EXIT_CODE}")
    if args.retrain:
        from scones.commands.pipeline import parse_parameters
        from scones.engine.launcher import launch, retrain_parameters

        overrides = parse_parameters(args.retrain_param, "--retrain-param")
        parameters = {**retrain_parameters(settings, ref.version), **overrides}
        started = launch(settings, parameters, args.retrain_input)
        print(f"retraining: started {started.pipeline} execution {started.execution_id} in the background "
              f"(follow: scones pipeline status {started.execution_id}; console: {started.console})")
    return DRIFT_EXIT_CODE


def _model_quality(settings, check, output: Path) -> dict[str, dict]:
    """Live accuracy per version from the review queue's answers, added to report.json; the versions to alert on."""
    import json

    from common.metrics import accuracy_of
    from scones.review.quality import live_quality

    ref = check.reference
    expected = {version: accuracy_of(doc) for version, doc in ref.by_version.items()}
    shares = {version: section["share_below_threshold"] for version, section in check.report["by_version"].items()}
    quality, problems = live_quality(settings.store(), settings.review_output, set(check.inference_ids), expected,
                                     shares, check.report.get("threshold"))
    check.report["model_quality"] = quality
    check.report["model_quality_problems"] = problems
    path = output / "report.json"
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        document.update(model_quality=quality, model_quality_problems=problems)
        path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    for version, entry in quality.items():
        name = f"v{version}" if version != "?" else "(version unknown: the endpoint refused the image)"
        if entry["reviewed"]:
            print(f"  live accuracy {name}: {entry['accuracy']:.3f} from {entry['reviewed']} answers "
                  f"(95 % CI {entry['ci_low']:.3f}-{entry['ci_high']:.3f}; {entry['population']}"
                  + (f"; evaluation {entry['evaluation_accuracy']:.3f}" if entry["evaluation_accuracy"] else "")
                  + f"), {entry['ungraded']} ungraded, {entry['without_capture']} without a capture record")
            at = entry["calibration"]["at_threshold"]
            if at and at["answers"]:
                print(f"    at or above {at['threshold']:g}: {at['accuracy']:.3f} right of {at['answers']} answers "
                      f"(95 % CI {at['ci_low']:.3f}-{at['ci_high']:.3f}; mean confidence {at['mean_confidence']:.3f})"
                      + ("" if at["holds"] else f" -- the threshold NO LONGER HOLDS: below {at['threshold']:g}"))
        else:
            print(f"  live accuracy {name}: nothing gradable yet ({entry['ungraded']} answers grade nothing)")
    for line in problems[:5]:
        print(f"  review output skipped: {line}")
    return {version: entry for version, entry in quality.items() if entry["below_evaluation"]}


def _print_tests(label: str, tests: list[dict], indent: str = "  ") -> None:
    for test in tests:
        verdict = {True: "DRIFT", False: "ok", None: "n/a"}[test["drifted"]]
        p_value = f"p={test['p_value']:.4f}" if test["p_value"] is not None else ""
        print(f"{indent}drift {label}, {test['name']} ({test['test']}): {verdict} {p_value} - {test['note']}")

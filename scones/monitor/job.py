"""The drift check, once: read capture, compare with evaluations, write the report, say what drifted.

``scones monitor report`` runs it here; in AWS the template's schedule starts the
monitoring pipeline (``pipelines/monitor``), whose one processing job runs this
module's :func:`main` on the capture prefix in S3 -- the same code, so the verdict
in the e-mail is the verdict on the laptop. On drift the job notifies through SNS
and, when given a pipeline name, starts it (retraining on the data prefix).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import defaults
from scones.monitor.capture_reader import read_capture
from scones.monitor.reference import Reference, reference, served_last, versions_in
from scones.monitor.report import write_report

DEFAULT_OUTPUT = "/opt/ml/processing/report"


@dataclass(frozen=True)
class DriftCheck:
    source: str
    report: dict
    reference: Reference
    inference_ids: frozenset[str] = frozenset()  # of the predictions read: what people's answers join on

    @property
    def drifted(self) -> list[dict]:
        return [test for test in self.report["drift"] if test["drifted"]]


def check_drift(source: str, store, registry, group: str, threshold: float, output: Path,
                hours: float = 24.0, version: int | None = None) -> DriftCheck:
    """Capture of the last ``hours`` (0: all) against the reference version and each version's own evaluation."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours) if hours > 0 else None
    scan = read_capture(source, store, since=since)
    ref = reference(registry, group, version, versions_in(scan), served_last(scan))
    return DriftCheck(source, write_report(scan, ref.classes, threshold, ref.evaluation, Path(output),
                                           ref.by_version), ref,
                      frozenset(p.inference_id for p in scan.predictions if p.inference_id))


def alert(check: DriftCheck, notifier) -> None:
    """One notification for a drifted report: the verdict, the tests' statistics, where the picture is."""
    from scones.notify import messages

    notifier.send("drift", *messages.drift(check.source, check.reference.name, check.drifted,
                                           str(check.report.get("plot") or "")))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor.pyz", description="Scheduled drift check on SageMaker data "
                                     "capture in S3 (the monitoring pipeline's processing job).")
    parser.add_argument("--capture", required=True, help="s3:// prefix of the endpoint's data capture")
    parser.add_argument("--group", required=True, help="model package group (the reference evaluations)")
    parser.add_argument("--hours", type=float, default=24.0, help="window to read (default 24)")
    parser.add_argument("--threshold", type=float, required=True, help="the workflow's confidence threshold")
    parser.add_argument("--topic-arn", default="", help="SNS topic for the drift alert")
    parser.add_argument("--retrain-pipeline", default=defaults.NO_RETRAIN, help="pipeline to start on drift "
                        f"({defaults.NO_RETRAIN!r}: alert only)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="where report.json (and .png) go")
    return parser


def main(argv: Sequence[str] | None = None, clients: dict | None = None) -> int:
    """Exit 0 when the check ran (drift or not: drift is reported by notification); 1 when it could not run."""
    from common.clients import Clients
    from scones import pipeline_service
    from scones.errors import SconesError
    from scones.notify import SnsNotifier
    from scones.registry.sagemaker import SageMakerRegistry
    from scones.store.s3 import S3Store

    args = build_parser().parse_args(argv)
    clients = Clients(clients)  # the job's own (its region and role), or what a test hands in
    sagemaker, s3 = clients("sagemaker"), clients("s3")
    try:
        check = check_drift(args.capture, S3Store(s3), SageMakerRegistry(sagemaker, s3), args.group,
                            args.threshold, Path(args.output), args.hours)
    except SconesError as exc:
        print(f"monitor: {exc.message}", file=sys.stderr, flush=True)
        return 1
    report = check.report
    print(f"monitor: {report['predictions']} predictions from {report['files']} files; verdict "
          f"{report['verdict']} vs {check.reference.name}", flush=True)
    if not check.drifted:
        return 0
    if args.topic_arn:
        alert(check, SnsNotifier(args.topic_arn, clients("sns")))
    if args.retrain_pipeline and args.retrain_pipeline != defaults.NO_RETRAIN:
        arn = pipeline_service.start(sagemaker, args.retrain_pipeline, display_name="retrain-on-drift")
        print(f"monitor: drift -> started {arn}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

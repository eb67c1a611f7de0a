"""``scones demo``: the main local job, end to end, with no AWS account and no Docker."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common.defaults import ENDPOINT_NAME as DEFAULT_ENDPOINT
from scones.settings import Settings


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the whole local story end to end",
        description="Run the SageMaker pipeline locally (ETL -> check -> train -> evaluate -> register), "
                    "start the local endpoint, approve the new model version in the local registry as an "
                    "approver would (which redeploys the endpoint), and send test images through the inference "
                    "workflow (serialize -> classify -> filter). "
                    "Outputs go under $SCONES_HOME (default ./.scones).",
        epilog="Example: scones demo --epochs 5",
    )
    demo.add_argument("--epochs", type=int, default=10)
    demo.add_argument("--learning-rate", type=float, default=0.01)
    demo.add_argument("--images", type=int, default=20, help="test images sent through the workflow")
    demo.add_argument("--threshold", type=float, default=None,
                      help="confidence needed to pass the filter (default: SCONES_THRESHOLD or the workflow's)")
    demo.set_defaults(handler=run_demo)


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def start_endpoint(settings: Settings) -> subprocess.Popen:
    """``scones endpoint serve`` as its own process, as it would run in production."""
    from scones.serving.run import read_state

    log = settings.workspace.path("endpoints", DEFAULT_ENDPOINT, "serve.log")
    process = subprocess.Popen([sys.executable, "-m", "scones.cli", "endpoint", "serve", "--port", "0"],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115 - owned by the child
                               env={**os.environ, "SCONES_HOME": str(settings.workspace.root)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = read_state(settings, DEFAULT_ENDPOINT)
        if state and state.get("pid") == process.pid:
            print(f"  serving at {state['url']} (pid {process.pid}); log: {log}")
            return process
        if process.poll() is not None:
            raise SystemExit(f"the endpoint exited with code {process.returncode}; see {log}")
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"the endpoint did not start within 60 s; see {log}")


def test_images(settings: Settings, record, count: int) -> list[tuple[str, bytes, str]]:
    """``count`` images spread over the run's clean test split: (name, bytes, true label)."""
    store = settings.store()
    outputs = record.step("CheckImages").properties["ProcessingOutputConfig"]["Outputs"]
    test_uri = next(o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == "test")
    classes = json.loads(store.get_bytes(f"{test_uri}/classes.json"))
    lines = store.get_bytes(f"{test_uri}/test.lst").decode().splitlines()
    picks = [lines[i] for i in range(0, len(lines), max(1, len(lines) // count))][:count]
    chosen = []
    for line in picks:
        _, label, relative = line.split("\t")
        chosen.append((relative, store.get_bytes(f"{test_uri}/{relative}"), classes[int(label)]))
    return chosen


def run_demo(args: argparse.Namespace) -> int:
    from scones.engine.local_run import run_local_pipeline

    settings = Settings.from_env()
    store, registry, group = settings.store(), settings.registry(), settings.model_group
    timings = {}

    started = _stage("1. pipeline: ETL -> corrupt-image check -> train -> evaluate -> register (local engine)")
    record = run_local_pipeline(store, registry, settings.workspace.runs, settings.workspace.data,
                                parameters={"Epochs": args.epochs, "LearningRate": args.learning_rate},
                                pipeline_kwargs=settings.pipeline_kwargs(), notifier=settings.notifier())
    timings["pipeline"] = time.monotonic() - started
    if record.status != "Succeeded":
        print(f"\ndemo stopped: the pipeline {record.status.lower()}: {record.failure_reason}")
        return 1
    registered = record.step("RegisterModel-RegisterModel").properties

    started = _stage("2. endpoint: start the local endpoint (SageMaker's serving contract, data capture on)")
    server = start_endpoint(settings)
    try:
        timings["endpoint start"] = time.monotonic() - started

        started = _stage("3. registry: the new version waits for an approver; approve it -> redeploy")
        version = registry.get_version(group, registered["ModelPackageVersion"])
        approved = registry.latest_approved(group)
        print(f"  {group}/{version.version}: {version.status}, accuracy {version.accuracy:.4f}"
              + (f" (live: v{approved.version}, accuracy {approved.accuracy:.4f})" if approved
                 else " (nothing live yet)"))
        version = registry.approve(group, version.version, "approved by scones demo")
        print(f"  approved: {group}/{version.version} is now {version.status}")
        from scones.serving.run import wait_until_live

        live = wait_until_live(settings, DEFAULT_ENDPOINT, version.version, timeout=60, process=server)
        print(f"  endpoint {live['endpoint']} at {live['url']} now serves v{live['live']['version']}")
        timings["approve + redeploy"] = time.monotonic() - started

        threshold = settings.threshold if args.threshold is None else args.threshold
        started = _stage(f"4. inference workflow: serialize -> classify -> filter (threshold {threshold}) "
                         f"on {args.images} test images")
        from scones.workflow.classify import classifier_capture, classify_images, format_result, review_target

        chosen = test_images(settings, record, args.images)
        first = chosen[0]
        chosen.append(("upload/truncated-" + first[0].split("/")[-1], first[1][: len(first[1]) // 2], "(damaged)"))
        report = classify_images([(name, data) for name, data, _ in chosen], live["url"], DEFAULT_ENDPOINT,
                                 live["live"]["classes"], threshold,
                                 cache_dir=settings.workflow_definitions,
                                 notifier=settings.notifier(), review=review_target(settings),
                                 capture_uri=classifier_capture(settings))
        width = max(len(name) for name, _, _ in chosen)
        for (_, _, truth), result in zip(chosen, report.results, strict=True):
            print(f"  {format_result(result, width)}   (true: {truth})")
        correct = sum(r.label == truth for (_, _, truth), r in zip(chosen, report.results, strict=True))
        print("  (the last one is a damaged upload, as users send: it must go to human review, not crash)")
        timings["inference workflow"] = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)

    print("\n== summary")
    print(f"  model {group}/{version.version} live on the local endpoint, accuracy {version.accuracy:.4f}")
    print(f"  test images: {len(report.passed)} passed, {len(report.review)} sent to human review "
          f"({report.review_notifications} SNS notifications); {correct} of {len(report.passed)} passed "
          "ones labelled correctly")
    for name, seconds in timings.items():
        print(f"  {name:<20} {seconds:6.2f} s")
    print(f"  see: scones pipeline status | scones registry list | records under {settings.workspace.root}")
    return 0

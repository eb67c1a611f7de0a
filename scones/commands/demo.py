"""``scones demo``: the main local job, end to end, with no AWS account and no Docker."""

from __future__ import annotations

import argparse
import time

from scones.settings import Settings


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the whole local story end to end",
        description="Run the SageMaker pipeline locally (ETL -> check -> train -> evaluate -> register), "
                    "approve the new model version in the local registry as an approver would, and show "
                    "the result. Outputs go under $SCONES_HOME (default ./.scones).",
        epilog="Example: scones demo --epochs 5",
    )
    demo.add_argument("--epochs", type=int, default=10)
    demo.add_argument("--learning-rate", type=float, default=0.01)
    demo.set_defaults(handler=run_demo)


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def run_demo(args: argparse.Namespace) -> int:
    from scones.engine.local_run import run_local_pipeline

    settings = Settings.from_env()
    store, registry, group = settings.store(), settings.registry(), settings.model_group
    timings = {}

    started = _stage("1. pipeline: ETL -> corrupt-image check -> train -> evaluate -> register (local engine)")
    record = run_local_pipeline(store, registry, settings.workspace.runs, settings.workspace.data,
                                parameters={"Epochs": args.epochs, "LearningRate": args.learning_rate})
    timings["pipeline"] = time.monotonic() - started
    if record.status != "Succeeded":
        print(f"\ndemo stopped: the pipeline {record.status.lower()}: {record.failure_reason}")
        return 1
    registered = record.step("RegisterModel-RegisterModel").properties

    started = _stage("2. registry: the new version waits for an approver")
    version = registry.get_version(group, registered["ModelPackageVersion"])
    approved = registry.latest_approved(group)
    print(f"  {group}/{version.version}: {version.status}, accuracy {version.accuracy:.4f}"
          + (f" (live: v{approved.version}, accuracy {approved.accuracy:.4f})" if approved else " (nothing live yet)"))
    version = registry.approve(group, version.version, "approved by scones demo")
    print(f"  approved: {group}/{version.version} is now {version.status}")
    timings["approve"] = time.monotonic() - started

    print("\n== summary")
    for name, seconds in timings.items():
        print(f"  {name:<10} {seconds:6.2f} s")
    print(f"  see: scones pipeline status | scones registry list | records under {settings.workspace.root}")
    return 0

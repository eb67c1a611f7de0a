"""``scones demo``: the main local job, end to end, with no AWS account and no Docker."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from scones.workspace import Workspace


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the whole local story end to end",
        description="Synthesise data if needed, then ETL -> corrupt-image check -> train -> evaluate, "
                    "all on this machine. Outputs go under $SCONES_HOME (default ./.scones).",
        epilog="Example: scones demo --epochs 5",
    )
    demo.add_argument("--epochs", type=int, default=10)
    demo.add_argument("--learning-rate", type=float, default=0.01)
    demo.set_defaults(handler=run_demo)


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def run_demo(args: argparse.Namespace) -> int:
    from processing import check, etl, evaluate
    from processing.synth import write_synthetic_archive
    from scones.artifacts import pack_model_dir
    from training import train

    ws = Workspace.from_env()
    timings = {}
    if not ws.synthetic_archive.exists():
        started = _stage("synthesise CIFAR-100 (SYNTHETIC images, real archive format)")
        write_synthetic_archive(ws.synthetic_archive)
        timings["synth"] = time.monotonic() - started
    steps = ws.steps
    plan = [
        ("etl", lambda: etl.main(["--input", str(ws.data), "--output", str(steps / "etl")])),
        ("check", lambda: check.main(["--input", str(steps / "etl"), "--output", str(steps / "clean")])),
        ("train", lambda: train.main(["--train", str(steps / "clean/train"),
                                      "--validation", str(steps / "clean/validation"),
                                      "--model-dir", str(steps / "model"),
                                      "--output-data-dir", str(steps / "training-output"),
                                      "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate)])),
        ("evaluate", lambda: evaluate.main(["--model", str(pack_model_dir(steps / "model", steps / "model.tar.gz")),
                                            "--test", str(steps / "clean/test"),
                                            "--output", str(steps / "evaluation")])),
    ]
    for name, step in plan:
        started = _stage(name)
        code = step()
        timings[name] = time.monotonic() - started
        if code != 0:
            print(f"\ndemo stopped: step {name} failed (exit {code})")
            return code
    report = json.loads(Path(steps / "evaluation" / evaluate.EVALUATION_FILE).read_text())
    accuracy = evaluate.read_json_path(report)
    print("\n== summary")
    for name, seconds in timings.items():
        print(f"  {name:<10} {seconds:6.2f} s")
    print(f"  test accuracy {accuracy:.4f}; evaluation.json at {steps / 'evaluation'}")
    return 0

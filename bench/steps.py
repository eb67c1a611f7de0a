"""Time each step on the default synthetic set (1000 train / 200 test images, 2 classes).

Each step runs as its own process, as it would in a SageMaker job, so the
figures include interpreter and import start-up. Usage::

    python bench/steps.py [--epochs 10] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step_commands(work: Path, epochs: int) -> list[tuple[str, list[str]]]:
    py = [sys.executable, "-m"]
    return [
        ("synth", py + ["scones.cli", "data", "synth", "--output", str(work / "data/cifar-100-python.tar.gz")]),
        ("etl", py + ["processing.etl", "--input", str(work / "data"), "--output", str(work / "etl")]),
        ("check", py + ["processing.check", "--input", str(work / "etl"), "--output", str(work / "clean")]),
        ("train", py + ["training.train", "--train", str(work / "clean/train"),
                        "--validation", str(work / "clean/validation"), "--model-dir", str(work / "model"),
                        "--output-data-dir", str(work / "train-out"), "--epochs", str(epochs)]),
        ("pack", [sys.executable, "-c", "import sys; from scones.artifacts import pack_model_dir; "
                  "pack_model_dir(sys.argv[1], sys.argv[2])", str(work / "model"), str(work / "model.tar.gz")]),
        ("evaluate", py + ["processing.evaluate", "--model", str(work / "model.tar.gz"),
                           "--test", str(work / "clean/test"), "--output", str(work / "evaluation")]),
    ]


def run_steps(work: Path, epochs: int) -> dict[str, float]:
    timings = {}
    for name, command in step_commands(work, epochs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        timings[name] = time.perf_counter() - started
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        timings = run_steps(args.workdir or Path(scratch), args.epochs)
    print(f"steps on the default synthetic set (1000 train / 200 test, 2 classes, {args.epochs} epochs):")
    for name, seconds in timings.items():
        print(f"  {name:<9} {seconds:7.2f} s")
    print(f"  {'total':<9} {sum(timings.values()):7.2f} s (without synth: "
          f"{sum(v for k, v in timings.items() if k != 'synth'):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

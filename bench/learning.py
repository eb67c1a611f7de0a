"""How well the default recipe learns: the synthetic set and real images available offline.

For each data set: ETL -> corrupt-image check -> train -> evaluate, the pipeline's own step
functions with every parameter at its default. Prints test accuracy, expected calibration
error (15 bins), and at the workflow threshold 0.93 the share of test images passed (coverage)
and the accuracy on them, plus the training seconds and why training stopped.

    python bench/learning.py                 # all data sets
    python bench/learning.py --only digits-2 --seeds 0 1 2

Targets: accuracy >= 0.98 on the real sets, ECE <= 0.05, coverage >= 0.80 at 0.93 with accuracy >= 0.99
there; training <= 30 s per run on 2 cores for the two- and four-class sets, <= 60 s for ten classes
(~1,400 training images). ``textures-10`` is the many-class case: tiles of ten photographs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _datasets(root: Path) -> dict:
    from bench.real_images import digits_archive, digits_folder, faces_folder, textures_folder
    from processing.synth import write_synthetic_archive

    return {
        "synthetic": (lambda: write_synthetic_archive(root / "synth" / "cifar-100-python.tar.gz"), ()),
        "digits-2 (archive)": (lambda: digits_archive(root / "digits2" / "cifar-100-python.tar.gz"),
                               ("three", "eight")),
        "digits-4 (folder)": (lambda: digits_folder(root / "digits4"), ()),
        "faces (folder)": (lambda: faces_folder(root / "faces"), ()),
        "textures-10 (folder)": (lambda: textures_folder(root / "textures10"), ()),
    }


def run_one(source: Path, classes, work: Path, seed: int = 0) -> dict:
    from processing.check import run_check
    from processing.etl import run_etl
    from processing.evaluate import run_evaluation
    from training.recipe import Recipe
    from training.train import train

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run_etl(str(source), work / "etl", list(classes), validation_fraction=0.2, seed=seed)
        splits = ("train", "validation", "test")
        check = run_check({s: work / "etl" / s for s in splits}, work / "clean", work / "quarantine")
    lines: list[str] = []
    started = time.perf_counter()
    result = train(work / "clean" / "train", work / "clean" / "validation", work / "model", Recipe(seed=seed),
                   log=lines.append)
    seconds = time.perf_counter() - started
    with contextlib.redirect_stdout(io.StringIO()):
        report = run_evaluation(work / "model", work / "clean" / "test", work / "evaluation")
    calibration = report["calibration"]
    return {"accuracy": report["multiclass_classification_metrics"]["accuracy"]["value"],
            "ece": calibration["expected_calibration_error"], "coverage": calibration["at_threshold"]["coverage"],
            "accuracy_at": calibration["at_threshold"]["accuracy"], "seconds": seconds,
            "temperature": calibration["temperature"], "train": check["splits"]["train"]["examined"],
            "test": report["evaluation"]["test_images"], "classes": len(report["evaluation"]["classes"]),
            "size": report["evaluation"]["input_size"], "stop": result["training"]["stop_reason"],
            "epochs": result["training"]["epochs_run"],
            "recall": {name: row["recall"] for name, row in
                       report["multiclass_classification_metrics"]["per_class"].items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="data set name prefixes to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args(argv)
    print(f"{'data set':20} {'seed':>4} {'cls':>3} {'train':>5} {'test':>4} {'px':>3} {'accuracy':>8} {'ECE':>6} "
          f"{'cov@.93':>7} {'acc@.93':>7} {'T':>5} {'ep':>3} {'train s':>7}  stop")
    with tempfile.TemporaryDirectory(prefix="scones-bench-learning-") as scratch:
        root = Path(scratch)
        for name, (build, classes) in _datasets(root).items():
            if args.only and not any(name.startswith(prefix) for prefix in args.only):
                continue
            source = build()
            for seed in args.seeds:
                r = run_one(source, classes, root / f"{name.split()[0]}-{seed}", seed)
                at = f"{r['accuracy_at']:.4f}" if r["accuracy_at"] is not None else "-"
                print(f"{name:20} {seed:>4} {r['classes']:>3} {r['train']:>5} {r['test']:>4} {r['size']:>3} "
                      f"{r['accuracy']:>8.4f} {r['ece']:>6.4f} {r['coverage']:>7.4f} {at:>7} "
                      f"{r['temperature']:>5.2f} {r['epochs']:>3} {r['seconds']:>7.1f}  {r['stop']}", flush=True)
                recalls = sorted(r["recall"].items(), key=lambda item: item[1])
                print(f"{'':20} recall per class, weakest first: "
                      + ", ".join(f"{name} {value:.3f}" for name, value in recalls), flush=True)
    print("targets: real sets accuracy >= 0.98, ECE <= 0.05, cov@.93 >= 0.80 with acc@.93 >= 0.99, train <= 30 s "
          "(<= 60 s for ten classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

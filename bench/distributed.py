"""One vs two local training instances on a larger synthetic set: wall time and overhead per instance.

Runs the pipeline's training job the way the local engine does (``run_training_job``: N
processes, SageMaker's multi-host contract, gloo) on the same ETL output, then scores each
artifact on the test split. On one machine the instances share its cores, so two instances
show the cost of the data-parallel machinery (process group, gradient all-reduce per step),
not a speed-up; on SageMaker each instance brings its own cores. Usage::

    python bench/distributed.py [--per-class 1500] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=1500, help="training images per class (2 classes)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from pipelines.step_code import TRAINING_PROGRAM, TRAINING_SOURCE, build_step_code
    from processing.etl import run_etl
    from processing.evaluate import run_evaluation
    from processing.synth import write_synthetic_archive
    from scones.engine.jobs import run_training_job
    from scones.store.local import LocalStore
    from training.train import METRIC_DEFINITIONS

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        archive = write_synthetic_archive(work / "cifar-100-python.tar.gz", ("bicycle", "motorcycle"),
                                          args.per_class, max(50, args.per_class // 5), seed=3)
        run_etl(str(archive), work / "etl", ("bicycle", "motorcycle"), validation_fraction=0.2, seed=0)
        store = LocalStore(work / "store")
        for split in ("train", "validation"):
            store.upload(work / "etl" / split, f"s3://bkt/data/{split}")
        code = build_step_code("bkt", "scones")
        code.upload(store)
        rows = []
        for count in args.instances:
            arguments = {
                "AlgorithmSpecification": {"TrainingImage": "pytorch", "MetricDefinitions": METRIC_DEFINITIONS},
                "HyperParameters": {"sagemaker_program": json.dumps(TRAINING_PROGRAM),
                                    "sagemaker_submit_directory": json.dumps(code.uri(TRAINING_SOURCE)),
                                    "epochs": str(args.epochs), "patience": "100"},
                "InputDataConfig": [{"ChannelName": s, "DataSource": {"S3DataSource": {
                    "S3Uri": f"s3://bkt/data/{s}", "S3DataDistributionType": "FullyReplicated"}}}
                    for s in ("train", "validation")],
                "OutputDataConfig": {"S3OutputPath": "s3://bkt/models"},
                "ResourceConfig": {"InstanceCount": count}}
            started = time.perf_counter()
            result = run_training_job(store, f"train-{count}", arguments, work / f"job{count}")
            seconds = time.perf_counter() - started
            model = work / f"model{count}.tar.gz"
            model.write_bytes(store.get_bytes(result["ModelArtifacts"]["S3ModelArtifacts"]))
            with open(os.devnull, "w") as quiet:
                stdout, sys.stdout = sys.stdout, quiet
                try:
                    report = run_evaluation(model, work / "etl" / "test", work / f"eval{count}")
                finally:
                    sys.stdout = stdout
            rows.append((count, seconds, report["multiclass_classification_metrics"]["accuracy"]["value"]))
    base = rows[0][1]
    print(f"training job on {2 * args.per_class} synthetic images, {args.epochs} epochs, "
          f"{os.cpu_count()} cores on this machine:")
    for count, seconds, accuracy in rows:
        extra = seconds - base
        per = f", overhead {extra / max(count - 1, 1):+.2f} s per extra instance" if count > 1 else ""
        print(f"  {count} instance(s): {seconds:6.2f} s wall, test accuracy {accuracy:.4f}{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

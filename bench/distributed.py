"""One vs two local instances on larger synthetic sets: wall time and overhead per instance.

Training: the pipeline's training job the way the local engine runs it (``run_training_job``:
N processes, SageMaker's multi-host contract, gloo) on the same ETL output; each artifact is
scored on the test split. Processing: the ETL and the corrupt-image check over a folder of
mixed-size JPEG photos (``run_processing_job``, ``ShardedByS3Key`` inputs), and whether the N
instances wrote exactly the one-instance dataset.

On one machine the instances share its cores, so the figures show the cost of the machinery
(process group, exchanges, gradient all-reduce), or the gain where one process left cores idle;
on SageMaker each instance brings its own cores. Usage::

    python bench/distributed.py [--per-class 1500] [--epochs 6] [--photos 1000] [--only training|processing]
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
    parser.add_argument("--photos", type=int, default=1000, help="photos per class, processing bench (3 classes)")
    parser.add_argument("--only", choices=("training", "processing"), default=None)
    args = parser.parse_args()
    if args.only != "training":
        bench_processing(args.photos, args.instances)
    if args.only != "processing":
        bench_training(args.per_class, args.epochs, args.instances)
    return 0


def bench_processing(per_class: int, instances: list[int]) -> None:
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    from pipelines.step_code import build_step_code
    from scones.engine.jobs import run_processing_job
    from scones.store.local import LocalStore

    def request(app, inputs, outputs, out, count, arguments):
        def s3_input(name, uri, local, distribution):
            return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                                   "S3DataDistributionType": distribution}}
        return {"ProcessingResources": {"ClusterConfig": {"InstanceCount": count}},
                "AppSpecification": {"ImageUri": "pytorch", "ContainerArguments": arguments,
                                     "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{app}"]},
                "ProcessingInputs": [*(s3_input(n, u, f"/opt/ml/processing/input/{n}", "ShardedByS3Key")
                                       for n, u in inputs.items()),
                                     s3_input("code", code.uri(app), "/opt/ml/processing/input/code",
                                              "FullyReplicated")],
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": n, "S3Output": {
                    "S3Uri": f"{out}/{n}", "LocalPath": f"/opt/ml/processing/output/{n}"}} for n in outputs]}}

    def digest(store, prefix):
        hashes = []
        for uri, _ in store.list(prefix):
            data = store.get_bytes(uri)
            if uri.endswith("manifest.json"):
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "source"}).encode()
            hashes.append(uri[len(prefix):] + hashlib.sha256(data).hexdigest())
        return hashlib.sha256("".join(hashes).encode()).hexdigest()[:12]

    splits = ("train", "validation", "test")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        rng = np.random.default_rng(0)
        for c, colour in enumerate(((200, 60, 60), (60, 200, 60), (60, 60, 200))):
            folder = work / "photos" / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                w, h = ((320, 240), (500, 375), (240, 320), (400, 400))[i % 4]
                base = np.asarray(colour, np.float32) + rng.normal(0, 30, 3)
                pixels = np.clip(base + rng.normal(0, 20, (h // 8, w // 8, 3)), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels).resize((w, h), Image.BILINEAR)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=85)
                (folder / f"{i:05d}.jpg").write_bytes(buffer.getvalue())
        store = LocalStore(work / "store")
        store.upload(work / "photos", "s3://bkt/photos")
        code = build_step_code("bkt", "scones")
        code.upload(store)
        rows = []
        for count in instances:
            out = f"s3://bkt/n{count}"
            started = time.perf_counter()
            run_processing_job(store, f"etl-{count}", request(
                "etl.pyz", {"data": "s3://bkt/photos"}, [*splits, "meta"], f"{out}/etl", count,
                ["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output"]),
                work / f"etl{count}")
            etl_seconds = time.perf_counter() - started
            started = time.perf_counter()
            run_processing_job(store, f"check-{count}", request(
                "check.pyz", {s: f"{out}/etl/{s}" for s in splits}, [*splits, "quarantine"], f"{out}/check", count,
                ["--input", "/opt/ml/processing/input", "--output", "/opt/ml/processing/output"]),
                work / f"check{count}")
            check_seconds = time.perf_counter() - started
            rows.append((count, etl_seconds, check_seconds, digest(store, f"{out}/etl") + "/" +
                         digest(store, f"{out}/check")))
    print(f"processing jobs (ETL, then the check) on {3 * per_class} JPEG photos (240-500 px), "
          f"{os.cpu_count()} cores on this machine:")
    for count, etl_seconds, check_seconds, fingerprint in rows:
        extra = etl_seconds + check_seconds - rows[0][1] - rows[0][2]
        per = f" ({extra / max(count - 1, 1):+.2f} s wall per extra instance)" if count > 1 else ""
        same = "identical to one instance's" if fingerprint == rows[0][3] else "DIFFERENT from one instance's"
        print(f"  {count} instance(s): ETL {etl_seconds:6.2f} s, check {check_seconds:5.2f} s{per}; "
              f"output {fingerprint} ({same})")


def bench_training(per_class: int, epochs: int, instances: list[int]) -> None:
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
                                          per_class, max(50, per_class // 5), seed=3)
        run_etl(str(archive), work / "etl", ("bicycle", "motorcycle"), validation_fraction=0.2, seed=0)
        store = LocalStore(work / "store")
        for split in ("train", "validation"):
            store.upload(work / "etl" / split, f"s3://bkt/data/{split}")
        code = build_step_code("bkt", "scones")
        code.upload(store)
        rows = []
        for count in instances:
            arguments = {
                "AlgorithmSpecification": {"TrainingImage": "pytorch", "MetricDefinitions": METRIC_DEFINITIONS},
                "HyperParameters": {"sagemaker_program": json.dumps(TRAINING_PROGRAM),
                                    "sagemaker_submit_directory": json.dumps(code.uri(TRAINING_SOURCE)),
                                    "epochs": str(epochs), "patience": "100"},
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
    print(f"training job on {2 * per_class} synthetic images, {epochs} epochs, "
          f"{os.cpu_count()} cores on this machine:")
    for count, seconds, accuracy in rows:
        extra = seconds - base
        per = f", overhead {extra / max(count - 1, 1):+.2f} s per extra instance" if count > 1 else ""
        print(f"  {count} instance(s): {seconds:6.2f} s wall, test accuracy {accuracy:.4f}{per}")


if __name__ == "__main__":
    sys.exit(main())

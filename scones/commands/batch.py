"""``scones batch run``: score a folder (or an s3:// prefix) of images with an approved model version.

Runs the batch scoring pipeline (``pipelines/batch/pipeline.py``: CreateModel -> batch transform
-> summary) on this machine, with the newest approved version unless ``--version`` names one,
then sends every image below the confidence threshold on to human review (``scones review``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BATCH_MODULE = "pipelines.batch.pipeline"

EPILOG = """\
Writes, under the run's prefix s3://<bucket>/scones/batch/<execution id>/ (a folder in $SCONES_HOME/store):
  predictions/<image>.out    the model's probabilities for each image (SageMaker's batch transform layout)
  summary/predictions.csv    image, label, confidence, one column per class
  summary/summary.json       counts per label, how many are at or above the threshold, unreadable outputs
  summary/review.jsonl       the images below the threshold: each becomes a review item

Examples:
  scones batch run --input ~/photos/                 newest approved version, threshold from settings
  scones batch run --input ~/photos/ --version 3 --threshold 0.8
  scones batch run --input s3://scones-local/incoming/ --no-review
In AWS: scones pipeline upsert --module pipelines.batch.pipeline --role-arn ARN, then
  scones pipeline start --module pipelines.batch.pipeline -p ModelDataUrl=s3://... -p InputDataUrl=s3://...
"""


def register(subparsers) -> None:
    batch = subparsers.add_parser("batch", help="score many images at once (SageMaker batch transform)",
                                  description=__doc__, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = batch.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="score a folder or prefix of images here", description=__doc__,
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--input", required=True, help="a folder of images, or an s3:// prefix in the store")
    run.add_argument("--version", type=int, default=None, help="the model version (default: newest approved)")
    run.add_argument("--threshold", type=float, default=None,
                     help="below this confidence an image goes to review (default: SCONES_THRESHOLD or 0.93)")
    run.add_argument("--instances", type=int, default=1, help="transform instances (processes here; default 1)")
    run.add_argument("--no-review", action="store_true", help="do not queue the uncertain images for review")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from scones.engine.local_run import run_local_pipeline
    from scones.errors import InvalidInput, NotFound
    from scones.settings import Settings

    settings = Settings.from_env()
    registry = settings.registry()
    version = (registry.get_version(settings.model_group, args.version) if args.version is not None
               else registry.latest_approved(settings.model_group))
    if version is None:
        raise NotFound(f"no approved version in model group {settings.model_group}: approve one first "
                       "(scones registry list, scones registry approve N)")
    threshold = settings.threshold if args.threshold is None else args.threshold
    parameters = {"ModelDataUrl": version.model_data_url, "ConfidenceThreshold": str(threshold),
                  "TransformInstanceCount": str(args.instances)}
    source = str(args.input)
    input_path = None
    if source.startswith("s3://"):
        parameters["InputDataUrl"] = source
    elif Path(source).is_dir():
        input_path = Path(source)
    else:
        raise InvalidInput(f"--input {source}: not a folder or an s3:// prefix")
    print(f"scoring {source} with {version.group} version {version.version} ({version.status})")
    record = run_local_pipeline(
        settings.store(), registry, settings.workspace.runs, settings.workspace.data, parameters=parameters,
        input_path=input_path, module_name=BATCH_MODULE, pipeline_kwargs=settings.pipeline_kwargs())
    if record.status != "Succeeded":
        return 1
    outputs = record.step("SummarizeScores").properties["ProcessingOutputConfig"]["Outputs"]
    summary_uri = outputs[0]["S3Output"]["S3Uri"]
    store = settings.store()
    summary = json.loads(store.get_bytes(f"{summary_uri}/summary.json"))
    queued = 0 if args.no_review else queue_for_review(settings.review_queue(), store, summary_uri, record.arn,
                                                          version.version, threshold)
    print(f"{summary['images']} images: {summary['at_or_above_threshold']} at or above {threshold:g}, "
          f"{summary['below_threshold']} below" + (f" ({queued} queued for review: scones review list)"
                                                    if not args.no_review else ""))
    for row in summary["unreadable"]:
        print(f"  unreadable output for {row['image']}: {row['why']}")
    table = f"{summary_uri}/predictions.csv"
    local = store.local_path(table)
    print(f"labels: {summary['labels']}\npredictions: {table}" + (f"\n             ({local})" if local else ""))
    return 0


def queue_for_review(queue, store, summary_uri: str, execution_arn: str, model_version: int,
                     threshold: float) -> int:
    """Every line of ``review.jsonl`` becomes a review item (one per image and run: a re-queue adds nothing)."""
    from scones.review import ReviewItem, item_id

    count = 0
    for line in store.get_bytes(f"{summary_uri}/review.jsonl").decode("utf-8").splitlines():
        row = json.loads(line)
        queue.add(ReviewItem(id=item_id(execution_arn, row["image"]), image=row["image"],
                             classes=tuple(row["classes"]), probabilities=tuple(row["probabilities"]),
                             model_version=model_version,
                             reason=f"batch scoring: confidence {row['confidence']:.2f} below {threshold:g}"))
        count += 1
    return count

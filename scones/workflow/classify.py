"""``scones classify``: images through the local inference workflow, with a verdict per image."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference_workflow.workflow_config import WorkflowConfig
from scones.workflow.runtime import (
    EndpointTarget,
    ImageBucket,
    ImageResult,
    LocalWorkflowRunner,
    image_key,
    workflow_handlers,
)


@dataclass(frozen=True)
class ReviewTarget:
    """Where the review branch queues images (a review queue URI) and where their bytes are kept."""

    queue_uri: str
    store: Any
    sample: float = 0.0  # the share of confident images also queued, as audit samples


def review_target(settings) -> ReviewTarget:
    """The configured review queue, and the artifact store that keeps the images it shows."""
    return ReviewTarget(settings.review_uri, settings.store(), settings.review_sample)


def classifier_capture(settings) -> str:
    """Where the classifier writes capture records: only when the endpoint is serverless (it captures nothing)."""
    if not settings.deploy_mode.is_serverless:
        return ""
    from scones.serving.run import capture_root

    return f"file://{capture_root(settings)}"


@dataclass(frozen=True)
class ClassifyReport:
    results: list[ImageResult]
    seconds: float
    review_notifications: int

    @property
    def passed(self) -> list[ImageResult]:
        return [r for r in self.results if r.status == "passed"]

    @property
    def review(self) -> list[ImageResult]:
        return [r for r in self.results if r.status == "review"]


def read_sources(sources: list[str], store=None) -> list[tuple[str, bytes]]:
    """Local files (a folder expands to its images) or s3:// URIs from the artifact store."""
    images = []
    for source in sources:
        if source.startswith("s3://"):
            if store is None:
                raise ValueError(f"{source}: no artifact store configured")
            images.append((source, store.get_bytes(source)))
            continue
        path = Path(source)
        if path.is_dir():
            images.extend((str(p), p.read_bytes()) for p in sorted(path.rglob("*"))
                          if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"))
        else:
            images.append((source, path.read_bytes()))
    if not images:
        raise ValueError(f"no images in {', '.join(sources)}: give image files (.png, .jpg, .jpeg, .webp, .gif, "
                         ".bmp), folders holding them, or s3:// URIs")
    return images


def classify_images(images: list[tuple[str, bytes]], endpoint_url: str, endpoint_name: str, classes: list[str],
                    threshold: float, batch: bool | None = None, config: WorkflowConfig | None = None,
                    cache_dir: Path | None = None, notifier=None,
                    bucket: ImageBucket | None = None, review: ReviewTarget | None = None,
                    capture_uri: str = "") -> ClassifyReport:
    """Run each image through serialize -> classify -> filter; batches go through the Map workflow.

    ``bucket``: put the images in that S3 bucket (an AWS API) for the serializer to read, instead of
    the runner's own in-process bucket. ``review``: the queue the review branch adds to; an image
    sent to review is kept in ``review.store`` at the S3 URI the item names, since the runner's
    own bucket is gone when the run ends. ``capture_uri``: the classifier captures there
    (:func:`classifier_capture`: a serverless endpoint's).
    """
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # failed executions are results here, not log noise
    config = config or WorkflowConfig()
    handlers = workflow_handlers(config, EndpointTarget(endpoint_url, endpoint_name, tuple(classes), threshold),
                                 images=bucket, review_queue=review.queue_uri if review else "",
                                 review_sample=review.sample if review else 0.0, capture_uri=capture_uri)
    use_batch = len(images) > 1 if batch is None else batch
    started = time.perf_counter()
    run = uuid.uuid4().hex[:12]
    with LocalWorkflowRunner(handlers, config, cache_dir=cache_dir, images=bucket) as runner:
        keys = [runner.put_image(image_key(name, i, run), data) for i, (name, data) in enumerate(images)]
        if use_batch:
            results = runner.classify_batch(keys)
        else:
            results = [runner.classify_one(key) for key in keys]
        notifications = len(runner.review_messages())
        bucket_name = runner.images.name
    if review is not None and bucket is None:
        for key, (_, data), result in zip(keys, images, results, strict=True):
            if result.review_id:
                review.store.put_bytes(f"s3://{bucket_name}/{key}", data)
    named = [dataclasses.replace(r, image=name) for (name, _), r in zip(images, results, strict=True)]
    if notifier is not None:
        from scones.notify import messages

        for result in named:
            if result.status == "review":
                notifier.send("human_review", *messages.human_review(result.image, result.error, result.cause))
    return ClassifyReport(named, time.perf_counter() - started, notifications)


def format_result(result: ImageResult, width: int = 40) -> str:
    if result.status == "passed":
        audit = f"  [audit sample {result.review_id}]" if result.review_id else ""
        return f"{result.image:<{width}} {result.label:<12} {result.confidence:.3f}  passed{audit}"
    queued = f"  [review {result.review_id}]" if result.review_id else ""
    return f"{result.image:<{width}} {'-':<12} {'':5}  REVIEW  {result.error}: {result.cause}{queued}"

"""Lambda on the workflow's review branch: put the image in front of a person (the review queue).

The state machine's Catch hands over the failing state's input with ``error`` (Step Functions'
``Error``/``Cause``) and the execution's id. The item carries the image's S3 URI, the model's
probabilities and version when it gave them, the reason and the capture record's inference id;
its id comes from the execution and the image (:func:`scones.review.item_id`), so a retried state
queues nothing twice. Settings: ``REVIEW_QUEUE`` (the queue's URI; empty: nothing is queued and the
answer says so), ``CLASSES``.
"""

from __future__ import annotations

import json
import math

from lambdas._events import InvalidEventError, extract_body
from lambdas._runtime import Clients, Env, entry_point
from lambdas.classifier import classes_from


def review_item(event: dict, classes: list[str]):
    """The review item for one caught failure: what a reviewer sees and what ground truth joins on."""
    from scones.review import ReviewItem, item_id

    if not isinstance(event, dict) or not isinstance(event.get("input"), dict):
        raise InvalidEventError('expected {"input": <the failing state\'s input>, "execution": <execution id>}')
    state, execution = event["input"], str(event.get("execution") or "")
    try:
        body = extract_body(state)
    except InvalidEventError:
        body = {}
    bucket = body.get("s3_bucket") or state.get("s3_bucket")
    key = body.get("s3_key") or state.get("s3_key")
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        raise InvalidEventError("the failing state's input names no s3_bucket and s3_key: nothing to review")
    image = f"s3://{bucket}/{key}"
    error = state.get("error") if isinstance(state.get("error"), dict) else {}
    return ReviewItem(id=item_id(execution, image), image=image, classes=tuple(classes),
                      probabilities=_probabilities(body.get("inferences"), len(classes)),
                      model_version=body.get("model_version") if isinstance(body.get("model_version"), int) else None,
                      reason=_reason(error), inference_id=str(body.get("inference_id") or ""))


def _probabilities(value, count: int) -> tuple[float, ...]:
    """The model's answer when it gave one per class, else none (a refused image has no probabilities)."""
    if not isinstance(value, list) or len(value) != count:
        return ()
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return ()
    return tuple(float(v) for v in value)


def _reason(error: dict) -> str:
    name, cause = str(error.get("Error", "")), str(error.get("Cause", ""))
    try:
        cause = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        pass
    return f"{name}: {cause}"[:500] if name else cause[:500]


def make_handler(env: Env, clients: Clients):
    """A handler adding to the queue ``REVIEW_QUEUE`` names, with the model's ``CLASSES``."""
    uri, classes = env.get("REVIEW_QUEUE", ""), classes_from(env)
    if not uri:
        return lambda event, context=None: {"id": review_item(event, classes).id, "status": "not queued",
                                            "why": "REVIEW_QUEUE is not set"}
    from scones.review import open_review_queue

    queue = open_review_queue(uri, clients)

    def configured(event, context=None):
        item = queue.add(review_item(event, classes))
        return {"id": item.id, "status": item.status}

    return configured


handler = entry_point(make_handler)

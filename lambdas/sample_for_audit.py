"""Lambda after the filter: send a share of the confident images to a person too, as an audit sample.

The workflow's review branch only sees what the model was unsure of; live accuracy measured on
that alone says nothing about the images that pass. So ``REVIEW_SAMPLE`` (default 0.02; 0 turns
it off) of the passing images are also queued, marked ``sample``, and pass on with ``audit_id``
(the item's id, or "" when not picked). The pick
is a hash of the capture record's inference id, so a retried state picks the same images.
Settings: ``REVIEW_QUEUE`` (empty: nothing is queued), ``REVIEW_SAMPLE``, ``CLASSES``.
"""

from __future__ import annotations

import hashlib

from common.defaults import REVIEW_SAMPLE
from lambdas._events import extract_body, parse_share, response
from lambdas._runtime import Clients, Env, entry_point
from lambdas.classifier import classes_from

DEFAULT_SAMPLE = REVIEW_SAMPLE


def picked(inference_id: str, share: float) -> bool:
    """The same verdict for one inference on every retry and every machine."""
    return share > 0 and int(hashlib.sha256(inference_id.encode()).hexdigest()[:8], 16) / 2**32 < share


def make_handler(env: Env, clients: Clients):
    """A handler queuing ``REVIEW_SAMPLE`` of the passing images, by inference id."""
    uri, classes = env.get("REVIEW_QUEUE", ""), classes_from(env)
    share = parse_share("REVIEW_SAMPLE", env.get("REVIEW_SAMPLE", DEFAULT_SAMPLE))
    queue = None
    if uri and share > 0:
        from scones.review import open_review_queue

        queue = open_review_queue(uri, clients)

    def configured(event, context=None):
        body = extract_body(event)
        inference_id = str(body.get("inference_id") or "")
        audit_id = ""
        if queue is not None and inference_id and picked(inference_id, share):
            from scones.review import SAMPLE, ReviewItem, item_id

            image = f"s3://{body.get('s3_bucket')}/{body.get('s3_key')}"
            probabilities = tuple(float(p) for p in body.get("inferences") or ())
            version = body.get("model_version")
            audit_id = queue.add(ReviewItem(id=item_id(inference_id, image), image=image, classes=tuple(classes),
                                 probabilities=probabilities if len(probabilities) == len(classes) else (),
                                 model_version=version if isinstance(version, int) else None,
                                 reason=f"audit sample ({share:.0%} of confident images)", inference_id=inference_id,
                                 kind=SAMPLE)).id
        return response({**body, "audit_id": audit_id})

    return configured


handler = entry_point(make_handler)

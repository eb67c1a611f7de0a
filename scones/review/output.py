"""Answers in Amazon A2I's output format, written and read one way for every review backend.

A2I writes each finished human loop to
``<output prefix>/<flow definition name>/YYYY/MM/DD/hh/mm/ss/<human loop name>/output.json``::

    {"flowDefinitionArn", "humanLoopName", "inputContent": {...},
     "humanAnswers": [{"answerContent": {...}, "submissionTime", "workerId", "workerMetadata"}]}

The local queue writes the same documents into the artifact store, so :func:`read_answers` --
what ground truth, live accuracy and retraining read -- does not care which backend answered.
Our task template names its answer ``label`` (``answerContent: {"label": {"label": "bicycle"}}``);
``inputContent`` carries what the workflow sent: the image, the classes, the model's
probabilities and version, the reason and the capture record's inference id.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from scones.review import CANT_TELL, NONE_OF_THESE, REVIEW, HumanAnswer, ReviewItem

OUTPUT_FILE = "output.json"
LOCAL_FLOW = "arn:aws:sagemaker:local:000000000000:flow-definition/scones-review"


def input_content(item: ReviewItem) -> dict:
    """What a human loop is started with (A2I's ``HumanLoopInput.InputContent``, as JSON).

    ``choices`` and ``top_guesses`` are for the worker task template (Liquid cannot append to a
    list or sort one): every class plus "none of these" and "can't tell", and the model's three
    best guesses as percentages.
    """
    return {"image": item.image, "classes": list(item.classes), "probabilities": list(item.probabilities),
            "model_version": item.model_version, "reason": item.reason, "inference_id": item.inference_id,
            "kind": item.kind, "choices": [*item.classes, NONE_OF_THESE, CANT_TELL],
            "top_guesses": [{"label": label, "percent": f"{100 * p:.1f}"} for label, p in item.top_guesses(3)]}


def output_document(item: ReviewItem, flow_arn: str = LOCAL_FLOW) -> dict:
    return {"flowDefinitionArn": flow_arn, "humanLoopName": item.id, "inputContent": input_content(item),
            "humanAnswers": [{"answerContent": {"label": {"label": a.label}}, "submissionTime": a.at,
                              "workerId": a.reviewer, "workerMetadata": {"reason": a.reason}}
                             for a in item.answers]}


def output_uri(prefix: str, item: ReviewItem, flow_arn: str = LOCAL_FLOW) -> str:
    """Where A2I would put this loop's output: under the flow's name and the loop's start time."""
    started = dt.datetime.strptime(item.created[:19], "%Y-%m-%dT%H:%M:%S") if item.created else dt.datetime(1970, 1, 1)
    flow = flow_arn.rsplit("/", 1)[-1]
    return f"{prefix.rstrip('/')}/{flow}/{started:%Y/%m/%d/%H/%M/%S}/{item.id}/{OUTPUT_FILE}"


@dataclass(frozen=True)
class GroundTruth:
    """What people said about one item: the agreed label (None when disputed), for the capture record it judges."""

    item_id: str
    inference_id: str
    model_version: int | None
    model_label: str
    confidence: float | None
    label: str | None
    kind: str
    answers: int
    at: str = ""  # when the item was queued (its loop started), from the output's path: "YYYY-MM-DDThh:mm:ss"


def parse_output(document: dict) -> ReviewItem:
    """An A2I output document back into an item with its answers."""
    content = document.get("inputContent") or {}
    answers = tuple(HumanAnswer(str(((a.get("answerContent") or {}).get("label") or {}).get("label", "")),
                                str(a.get("workerId", "")), str((a.get("workerMetadata") or {}).get("reason", "")),
                                str(a.get("submissionTime", "")))
                    for a in document.get("humanAnswers") or [])
    return ReviewItem(id=str(document["humanLoopName"]), image=str(content.get("image", "")),
                      classes=tuple(content.get("classes") or ()),
                      probabilities=tuple(float(p) for p in content.get("probabilities") or ()),
                      model_version=content.get("model_version"), reason=str(content.get("reason", "")),
                      inference_id=str(content.get("inference_id", "")), kind=str(content.get("kind", REVIEW)),
                      answers=answers)


def read_answers(store, prefix: str) -> tuple[list[GroundTruth], list[str]]:
    """Every answered loop under ``prefix`` as ground truth, and a line for each output that could not be read.

    A document that is not JSON or lacks a loop name is reported, never fatal: one bad object
    must not hide every other answer.
    """
    truths, problems = [], []
    for uri, _ in store.list(prefix):
        if not uri.endswith("/" + OUTPUT_FILE):
            continue
        try:
            item = parse_output(json.loads(store.get_bytes(uri)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{uri}: not an A2I output document ({exc})")
            continue
        if not item.answers:
            continue
        truths.append(GroundTruth(item.id, item.inference_id, item.model_version, item.label, item.confidence,
                                  item.answer, item.kind, len(item.answers), started_at(uri)))
    return truths, problems


def started_at(uri: str) -> str:
    """The loop's start time from A2I's output path (``.../YYYY/MM/DD/hh/mm/ss/<loop>/output.json``), or ""."""
    parts = uri.split("/")[-8:-2]
    if len(parts) != 6 or not all(p.isdigit() for p in parts):
        return ""
    year, month, day, hour, minute, second = parts
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"



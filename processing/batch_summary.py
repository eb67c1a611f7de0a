"""Batch scoring's last step: a batch transform's ``<image>.out`` files -> predictions, a summary, a review list.

Each ``.out`` holds the serving handler's answer for one image: probabilities in ``classes.json``
order (read from the scored ``model.tar.gz``, so labels are the model's own). Written:

- ``predictions.csv``: image URI, label, confidence, then one probability column per class;
- ``summary.json``: counts per label, how many are at or above the threshold, the ones below it,
  and any output that could not be read (named, never dropped silently);
- ``review.jsonl``: one line per image below the threshold (URI, classes, probabilities), what
  ``scones batch run`` sends on to human review.

A plain program with SageMaker's processing paths as defaults, like every step script.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from common.defaults import CONFIDENCE_THRESHOLD

DEFAULT_PREDICTIONS = "/opt/ml/processing/predictions"
DEFAULT_MODEL = "/opt/ml/processing/model"
DEFAULT_OUTPUT = "/opt/ml/processing/summary"
SUMMARY_FILE, PREDICTIONS_FILE, REVIEW_FILE = "summary.json", "predictions.csv", "review.jsonl"
OUTPUT_SUFFIX = ".out"


class SummaryError(ValueError):
    """The model's classes cannot be read: nothing can be labelled."""


def model_classes(model: Path) -> list[str]:
    """``classes.json`` of ``model.tar.gz`` (or a folder holding it, or an unpacked model), as evaluation reads it."""
    import tempfile

    from common.manifest import read_classes
    from processing.evaluate import extract_model

    with tempfile.TemporaryDirectory() as scratch:
        try:
            return read_classes(extract_model(Path(model), Path(scratch)))
        except ValueError as exc:  # EvaluationError, ManifestError: the message names the file and the fault
            raise SummaryError(str(exc)) from exc


def _probabilities(path: Path, count: int) -> list[float]:
    try:
        value = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(value, list) or len(value) != count or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise ValueError(f"expected {count} probabilities, got {json.dumps(value)[:80]}")
    return [float(v) for v in value]


def summarize(predictions: Path, classes: list[str], output: Path, threshold: float, source_uri: str = "") -> dict:
    """Write the three files; returns the summary."""
    output.mkdir(parents=True, exist_ok=True)
    base = source_uri.rstrip("/")
    labels: Counter[str] = Counter()
    unreadable, review = [], []
    confident = 0
    with open(output / PREDICTIONS_FILE, "w", newline="", encoding="utf-8") as table, \
            open(output / REVIEW_FILE, "w", encoding="utf-8") as queue:
        writer = csv.writer(table)
        writer.writerow(["image", "label", "confidence", *classes])
        for path in sorted(predictions.rglob(f"*{OUTPUT_SUFFIX}")):
            relative = path.relative_to(predictions).as_posix()[:-len(OUTPUT_SUFFIX)]
            image = f"{base}/{relative}" if base else relative
            try:
                probabilities = _probabilities(path, len(classes))
            except ValueError as exc:
                unreadable.append({"image": image, "why": str(exc)})
                continue
            top = max(range(len(classes)), key=probabilities.__getitem__)
            label, confidence = classes[top], probabilities[top]
            labels[label] += 1
            writer.writerow([image, label, f"{confidence:.6f}", *(f"{p:.6f}" for p in probabilities)])
            if confidence >= threshold:
                confident += 1
            else:
                review.append(image)
                queue.write(json.dumps({"image": image, "label": label, "confidence": confidence,
                                        "classes": classes, "probabilities": probabilities}) + "\n")
    scored = sum(labels.values())
    summary = {"images": scored, "labels": dict(sorted(labels.items())), "threshold": threshold,
               "at_or_above_threshold": confident, "below_threshold": len(review),
               "coverage": confident / scored if scored else None, "to_review": review[:100],
               "unreadable": unreadable, "classes": classes}
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"batch summary: {scored} images scored; {confident} at or above {threshold:g}, {len(review)} below "
          f"(to human review); {len(unreadable)} unreadable outputs; labels {dict(labels)}", flush=True)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch_summary.py",
        description="Summarize a batch transform's <image>.out files: predictions.csv, summary.json, review.jsonl.")
    parser.add_argument("--predictions", default=DEFAULT_PREDICTIONS,
                        help="the transform's output folder of <image>.out files (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="the scored model.tar.gz, or a folder holding it: its classes.json (default: %(default)s)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="where the three files go (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=CONFIDENCE_THRESHOLD,
                        help="below this confidence an image goes to human review (default: %(default)s)")
    parser.add_argument("--source-uri", default="", help="the scored prefix, so rows name each image's full URI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summarize(Path(args.predictions), model_classes(Path(args.model)), Path(args.output), args.threshold,
                  args.source_uri)
    except SummaryError as exc:
        print(f"batch summary failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

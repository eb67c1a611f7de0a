"""Live model quality from people's answers: accuracy per model version on reviewed traffic, with a 95 % interval.

SageMaker Model Monitor would merge ground truth with data capture; it is closed to new
customers, so this is the project's own. The rules:

- an answer grades the model when it names one of the classes and the model gave a label; a
  disputed item, "none of these", "can't tell", or an image the endpoint refused is counted under
  ``ungraded`` and grades nothing;
- each answer is joined to its capture record by InferenceId; one whose record is gone (capture
  pruned, or never written) still grades on the model's answer the review item carries, and is
  counted under ``without_capture``;
- the interval is Wilson's score interval (it stays inside [0, 1] and behaves at small counts);
- reviewed traffic is what the workflow could not pass, so its accuracy is lower than the
  model's on all traffic by construction: the report says which population it measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from scones.review import CANT_TELL, NONE_OF_THESE
from scones.review.output import GroundTruth

Z95 = 1.959964


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for ``correct`` of ``total``."""
    if total == 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _gradable(truth: GroundTruth) -> bool:
    return truth.label not in (None, NONE_OF_THESE, CANT_TELL) and bool(truth.model_label)


def model_quality(truths: Iterable[GroundTruth], captured_ids: set[str],
                  evaluation_accuracy: dict[str, float | None] | None = None) -> dict[str, dict]:
    """Per model version (as a string, as capture names it): reviewed, correct, accuracy, ci_low, ci_high, ...

    With ``evaluation_accuracy`` (version -> the accuracy its evaluation measured), a version whose
    interval lies wholly below it gets ``below_evaluation: True`` -- the alert.
    """
    versions: dict[str, dict] = {}
    for truth in truths:
        version = str(truth.model_version) if truth.model_version is not None else "?"
        entry = versions.setdefault(version, {"reviewed": 0, "correct": 0, "ungraded": 0, "without_capture": 0,
                                              "confusion": {}, "population": "reviewed traffic (below the "
                                                                              "threshold or refused)"})
        if not _gradable(truth):
            entry["ungraded"] += 1
            continue
        entry["reviewed"] += 1
        entry["correct"] += truth.label == truth.model_label
        entry["without_capture"] += truth.inference_id not in captured_ids
        pair = f"{truth.label} -> {truth.model_label}"
        entry["confusion"][pair] = entry["confusion"].get(pair, 0) + 1
    for version, entry in versions.items():
        n, k = entry["reviewed"], entry["correct"]
        entry["accuracy"] = k / n if n else None
        entry["ci_low"], entry["ci_high"] = wilson(k, n) if n else (None, None)
        expected = (evaluation_accuracy or {}).get(version)
        entry["evaluation_accuracy"] = expected
        entry["below_evaluation"] = bool(n and expected is not None and entry["ci_high"] < expected)
    return versions

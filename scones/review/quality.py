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
  model's on all traffic by construction; audit samples (a share of the confident images) stand for
  the rest, and the two are weighted by their shares of the captured traffic (:func:`all_traffic`);
- over time, answers are grouped by the day their item was queued, each day weighted as above;
- calibration on reviewed traffic bins the graded answers by the model's confidence, and asks of
  those at or above the workflow's threshold (the audit samples) whether the threshold still holds:
  ``holds`` is False only when their whole interval lies below it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from scones.review import CANT_TELL, NONE_OF_THESE, SAMPLE
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


def _population(truths: list[GroundTruth]) -> dict:
    n = len(truths)
    k = sum(t.label == t.model_label for t in truths)
    low, high = wilson(k, n) if n else (None, None)
    return {"reviewed": n, "correct": k, "accuracy": k / n if n else None, "ci_low": low, "ci_high": high}


def all_traffic(review: dict, sample: dict, share_below: float | None) -> dict | None:
    """Accuracy on all traffic: the two populations weighted by their share of it (None when not estimable).

    Reviewed images are the share ``share_below`` of traffic below the threshold (from capture);
    audit samples stand for the rest. A population with weight 0 is not needed; one with weight
    and no answers leaves the estimate open. The interval is the normal approximation of the
    weighted sum, clipped to [0, 1].
    """
    if share_below is None:
        return None
    parts = [(share_below, review), (1.0 - share_below, sample)]
    if any(weight > 0 and not part["reviewed"] for weight, part in parts):
        return None
    used = [(w, p) for w, p in parts if w > 0]
    accuracy = sum(w * p["accuracy"] for w, p in used)
    spread = math.sqrt(sum(w * w * p["accuracy"] * (1 - p["accuracy"]) / p["reviewed"] for w, p in used))
    if len(used) == 1:  # one population is all the traffic: its own (Wilson) interval
        low, high = used[0][1]["ci_low"], used[0][1]["ci_high"]
    else:
        low, high = max(0.0, accuracy - Z95 * spread), min(1.0, accuracy + Z95 * spread)
    return {"accuracy": accuracy, "ci_low": low, "ci_high": high, "share_below_threshold": share_below}


def _headline(review: dict, sample: dict, share_below: float | None) -> tuple[dict, str]:
    estimate = all_traffic(review, sample, share_below)
    if estimate:
        return estimate, "all traffic"
    return (review, "reviewed only") if review["reviewed"] else (sample, "samples only")


def over_time(gradable: list[GroundTruth], share_below: float | None) -> list[dict]:
    """Live accuracy per day the items were queued, with its interval and which population it stands on."""
    days: dict[str, list[GroundTruth]] = {}
    for truth in gradable:
        days.setdefault(truth.at[:10] or "unknown", []).append(truth)
    rows = []
    for day in sorted(days):
        group = days[day]
        review = _population([t for t in group if t.kind != SAMPLE])
        sample = _population([t for t in group if t.kind == SAMPLE])
        headline, population = _headline(review, sample, share_below)
        rows.append({"day": day, "reviewed": len(group), "accuracy": headline["accuracy"],
                     "ci_low": headline["ci_low"], "ci_high": headline["ci_high"], "population": population})
    return rows


def calibration(gradable: list[GroundTruth], threshold: float | None, bins: int = 10) -> dict:
    """Accuracy per confidence bin on graded answers, and whether ``threshold`` still means what it says."""
    rated = [t for t in gradable if t.confidence is not None]
    rows = []
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        group = [t for t in rated if low <= t.confidence < high or (index == bins - 1 and t.confidence == 1.0)]
        if group:
            rows.append({"low": low, "high": high, "count": len(group),
                         "confidence": sum(t.confidence for t in group) / len(group),
                         "accuracy": sum(t.label == t.model_label for t in group) / len(group)})
    at = None
    if threshold is not None:
        above = [t for t in rated if t.confidence >= threshold]
        population = _population(above)
        at = {"threshold": threshold, "answers": len(above), "accuracy": population["accuracy"],
              "ci_low": population["ci_low"], "ci_high": population["ci_high"],
              "mean_confidence": sum(t.confidence for t in above) / len(above) if above else None,
              "holds": None if not above else population["ci_high"] >= threshold}
    return {"bins": rows, "at_threshold": at}


def model_quality(truths: Iterable[GroundTruth], captured_ids: set[str],
                  evaluation_accuracy: dict[str, float | None] | None = None,
                  share_below: dict[str, float] | None = None, threshold: float | None = None) -> dict[str, dict]:
    """Per model version (as capture names it): live accuracy on all traffic where the answers allow it.

    ``reviewed``/``correct``/``accuracy``/``ci_low``/``ci_high`` are the all-traffic estimate when
    :func:`all_traffic` can make one (``population`` says "all traffic"), else the reviewed images'
    own figures (``population`` says which). Only an all-traffic estimate whose interval lies wholly
    below ``evaluation_accuracy`` sets ``below_evaluation`` -- the alert: low-confidence images
    alone are harder than traffic by construction and would always look worse.
    """
    grouped: dict[str, list[GroundTruth]] = {}
    for truth in truths:
        grouped.setdefault(str(truth.model_version) if truth.model_version is not None else "?", []).append(truth)
    versions: dict[str, dict] = {}
    for version, group in grouped.items():
        gradable = [t for t in group if _gradable(t)]
        review = _population([t for t in gradable if t.kind != SAMPLE])
        sample = _population([t for t in gradable if t.kind == SAMPLE])
        confusion: dict[str, int] = {}
        for t in gradable:
            confusion[f"{t.label} -> {t.model_label}"] = confusion.get(f"{t.label} -> {t.model_label}", 0) + 1
        share = (share_below or {}).get(version)
        estimate = all_traffic(review, sample, share)
        headline = estimate or (review if review["reviewed"] else sample)
        expected = (evaluation_accuracy or {}).get(version)
        versions[version] = {
            "reviewed": len(gradable), "correct": review["correct"] + sample["correct"],
            "accuracy": headline["accuracy"], "ci_low": headline["ci_low"], "ci_high": headline["ci_high"],
            "population": "all traffic (reviewed and audit samples weighted by their share)" if estimate else
            ("reviewed traffic only (below the threshold or refused): harder than traffic, no alert" if
             review["reviewed"] else "audit samples only (confident traffic)"),
            "by_population": {"review": review, "sample": sample},
            "ungraded": len(group) - len(gradable),
            "without_capture": sum(t.inference_id not in captured_ids for t in gradable),
            "confusion": confusion, "evaluation_accuracy": expected,
            "below_evaluation": bool(estimate and expected is not None and estimate["ci_high"] < expected),
            "over_time": over_time(gradable, share), "calibration": calibration(gradable, threshold),
        }
    return versions


def live_quality(store, review_output: str, captured_ids: set[str], evaluation_accuracy: dict[str, float | None],
                 share_below: dict[str, float], threshold: float | None) -> tuple[dict[str, dict], list[str]]:
    """:func:`model_quality` from the answers under ``review_output``, and a line per unreadable output."""
    from scones.review.output import read_answers

    truths, problems = read_answers(store, review_output)
    return model_quality(truths, captured_ids, evaluation_accuracy, share_below, threshold), problems

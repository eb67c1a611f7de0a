"""Versions side by side on live traffic: a shadow against the live version, and the variants of an A/B split.

- **Shadow agreement**: each shadow answer carries the live record's ``eventId``, so the two are
  joined request by request: the share of identical labels, how confidence moved, and the
  requests where they disagree (with the images, from capture). Where a reviewer answered the
  request (joined on ``inferenceId``), both versions are graded on the same requests.
- **A/B split**: whether the live-accuracy difference between two variants is real yet: a
  two-proportion z-test on the reviewed answers, two-sided (what each version answered is the
  capture report's per-version section, :func:`scones.monitor.report.build_report`).
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path

from scones.monitor.capture_reader import CaptureScan, Prediction
from scones.review.quality import wilson

#: Disagreements shown with their images, newest first.
SHOWN_DISAGREEMENTS = 12


def _label(prediction: Prediction, classes: list[str]) -> str:
    top = prediction.top
    return classes[top] if top < len(classes) else str(top)


def shadow_agreement(live: CaptureScan, shadow: CaptureScan, classes: list[str], answers: Iterable = ()) -> dict:
    """The live version's and the shadow's answers to the same requests, compared."""
    by_event = {p.event_id: p for p in live.predictions if p.event_id}
    pairs = [(by_event[s.event_id], s) for s in shadow.predictions if s.event_id in by_event]
    same = [a.top == b.top for a, b in pairs]
    deltas = [b.confidence - a.confidence for a, b in pairs]
    disagreements = [{"event_id": a.event_id, "time": a.time.strftime("%Y-%m-%d %H:%M:%S"),
                      "live": _label(a, classes), "live_confidence": a.confidence,
                      "shadow": _label(b, classes), "shadow_confidence": b.confidence}
                     for a, b in reversed(pairs) if a.top != b.top][:SHOWN_DISAGREEMENTS]
    result = {
        "compared": len(pairs), "shadow_answers": len(shadow.predictions), "shadow_failed": shadow.corrupt,
        "agreement": sum(same) / len(pairs) if pairs else None,
        "agreement_ci": wilson(sum(same), len(pairs)) if pairs else None,
        "confidence_change": sum(deltas) / len(deltas) if deltas else None,
        "mean_absolute_change": sum(map(abs, deltas)) / len(deltas) if deltas else None,
        "disagreements": disagreements, "disagreed": len(pairs) - sum(same),
        "graded": graded_side_by_side(pairs, answers, classes),
    }
    return result


def graded_side_by_side(pairs: list[tuple[Prediction, Prediction]], answers: Iterable, classes: list[str]) -> dict:
    """Both versions graded on the requests a reviewer answered with a class (joined on InferenceId)."""
    truth = {a.inference_id: a.label for a in answers if a.inference_id and a.label in classes}
    graded = [(a, b, truth[a.inference_id]) for a, b in pairs if a.inference_id in truth]
    live_right = sum(_label(a, classes) == label for a, _, label in graded)
    shadow_right = sum(_label(b, classes) == label for _, b, label in graded)
    n = len(graded)
    return {"reviewed": n, "live_correct": live_right, "shadow_correct": shadow_right,
            "live_accuracy": live_right / n if n else None, "shadow_accuracy": shadow_right / n if n else None,
            "live_ci": wilson(live_right, n) if n else None, "shadow_ci": wilson(shadow_right, n) if n else None}


def capture_images(folder: Path, event_ids: set[str], size: int = 64) -> dict[str, str]:
    """PNG data URIs (at most ``size`` pixels a side) of the captured requests named, from a capture folder."""
    from PIL import Image

    found: dict[str, str] = {}
    for path in sorted(Path(folder).rglob("*.jsonl"), reverse=True):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if len(found) == len(event_ids):
                    return found
                try:
                    record = json.loads(line)
                    event = record["eventMetadata"]["eventId"]
                    if event not in event_ids or event in found:
                        continue
                    data = record["captureData"]["endpointInput"]
                    if data.get("encoding") != "BASE64":
                        continue  # a JSON batch: no single image to show
                    with Image.open(io.BytesIO(base64.b64decode(data["data"]))) as image:
                        image.thumbnail((size, size))
                        out = io.BytesIO()
                        image.convert("RGB").save(out, "PNG")
                except (ValueError, KeyError, TypeError, OSError):
                    continue
                found[event] = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    return found


def two_proportion(correct_a: int, total_a: int, correct_b: int, total_b: int, alpha: float = 0.05) -> dict:
    """Is accuracy a (``correct_a``/``total_a``) different from b? Two-sided two-proportion z-test, pooled."""
    if min(total_a, total_b) == 0:
        return {"z": None, "p": None, "real": False, "verdict": "not yet: a variant has no reviewed answers"}
    pa, pb = correct_a / total_a, correct_b / total_b
    pooled = (correct_a + correct_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return {"z": 0.0, "p": 1.0, "real": False, "verdict": "no difference: both variants scored the same on every "
                                                              "reviewed answer"}
    z = (pa - pb) / spread
    p = math.erfc(abs(z) / math.sqrt(2))
    real = p < alpha
    verdict = (f"real (p = {p:.3f} < {alpha}): the difference of {abs(pa - pb):.1%} is unlikely to be chance" if real
               else f"not yet (p = {p:.2f}): could be chance; keep the split running and review more answers")
    return {"z": z, "p": p, "real": real, "verdict": verdict}

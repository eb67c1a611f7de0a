"""A candidate version beside the live one: what an approver decides from.

Both the dashboard's version page and the registration notification show this,
so the numbers an approver reads in the e-mail are the numbers on the page. It
reads only the evaluation document each version carries in the registry
(``evaluation.json``): metrics, calibration, training curves, the data digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.defaults import ACCURACY_JSON_PATH, METRICS_KEY
from scones.registry import ModelVersion


@dataclass(frozen=True)
class MetricRow:
    name: str
    candidate: float | None
    live: float | None
    higher_is_better: bool = True
    digits: int = 4

    @property
    def delta(self) -> float | None:
        return None if self.candidate is None or self.live is None else self.candidate - self.live

    @property
    def better(self) -> bool | None:
        """True when the candidate is better on this row, False when worse, None when equal or unknown."""
        if not self.delta:
            return None
        return (self.delta > 0) == self.higher_is_better

    def text(self, value: float | None) -> str:
        return "-" if value is None else f"{value:.{self.digits}f}"


@dataclass(frozen=True)
class Comparison:
    candidate: ModelVersion
    live: ModelVersion | None
    metrics: list[MetricRow]
    per_class: list[dict[str, Any]]
    same_data: bool | None  # None: a digest is missing on either side
    notes: list[str] = field(default_factory=list)

    def summary(self, live_label: str = "live") -> str:
        """One line for a notification subject: the accuracy and ECE deltas, and any reviewed images added."""
        rows = {row.name: row for row in self.metrics}
        accuracy, ece = rows["accuracy"], rows["calibration error (ECE)"]
        if accuracy.candidate is None:
            return "no accuracy recorded"
        reviewed = rows["reviewed images trained on"].candidate
        added = f"; trained on {int(reviewed)} reviewed images" if reviewed else ""
        return self._deltas(accuracy, ece, live_label) + added

    def _deltas(self, accuracy: MetricRow, ece: MetricRow, live_label: str) -> str:
        if self.live is None:
            return f"accuracy {accuracy.text(accuracy.candidate)}; no version {live_label} yet"
        parts = [f"accuracy {accuracy.text(accuracy.candidate)} vs {live_label} v{self.live.version} "
                 f"{accuracy.text(accuracy.live)} ({accuracy.delta:+.4f})" if accuracy.delta is not None
                 else f"accuracy {accuracy.text(accuracy.candidate)} vs {live_label} v{self.live.version}"]
        if ece.delta is not None:
            parts.append(f"ECE {ece.candidate:.4f} ({ece.delta:+.4f})")
        return ", ".join(parts)

    def to_dict(self, live_label: str = "live") -> dict[str, Any]:
        return {"candidate": self.candidate.version, "live": self.live.version if self.live else None,
                "metrics": [{"name": r.name, "candidate": r.candidate, "live": r.live, "delta": r.delta,
                             "better": r.better} for r in self.metrics],
                "per_class": self.per_class, "same_data": self.same_data, "notes": self.notes,
                "summary": self.summary(live_label)}


def _get(document: dict, *path: str) -> Any:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


METRICS = (
    # (label, key path in evaluation.json, higher is better, digits)
    ("accuracy", tuple(ACCURACY_JSON_PATH.split(".")), True, 4),
    ("weighted F1", (METRICS_KEY, "weighted_f1", "value"), True, 4),
    ("calibration error (ECE)", ("calibration", "expected_calibration_error"), False, 4),
    ("coverage at the threshold", ("calibration", "at_threshold", "coverage"), True, 4),
    ("accuracy above the threshold", ("calibration", "at_threshold", "accuracy"), True, 4),
    ("test images", ("evaluation", "test_images"), True, 0),
    ("training epochs", ("training_diagnostics", "epochs"), True, 0),
    ("reviewed images trained on", ("data", "reviewed_images"), True, 0),
)


def compare(candidate: ModelVersion, live: ModelVersion | None) -> Comparison:
    """Row by row: the candidate's evaluation beside the live version's (or alone when nothing is live)."""
    new, old = candidate.metrics or {}, (live.metrics if live else None) or {}
    rows = [MetricRow(label, _float(_get(new, *path)), _float(_get(old, *path)) if live else None, higher, digits)
            for label, path, higher, digits in METRICS]
    new_classes = _get(new, METRICS_KEY, "per_class") or {}
    old_classes = _get(old, METRICS_KEY, "per_class") or {}
    per_class = [{"class": name, **{f"{side}_{k}": _float(_get(source, name, k))
                                    for side, source in (("candidate", new_classes), ("live", old_classes))
                                    for k in ("precision", "recall", "f1")},
                  "support": _get(new_classes, name, "support")}
                 for name in list(new_classes) + [c for c in old_classes if c not in new_classes]]
    digests = (_get(new, "data", "dataset_digest"), _get(old, "data", "dataset_digest"))
    same_data = None if live is None or None in digests else digests[0] == digests[1]
    notes = []
    if live is not None and set(new_classes) != set(old_classes):
        notes.append(f"the classes differ: v{candidate.version} has {sorted(new_classes)}, "
                     f"v{live.version} has {sorted(old_classes)}")
    for warning in _get(new, "training_diagnostics", "warnings") or []:
        notes.append(f"training: {warning}")
    return Comparison(candidate, live, rows, per_class, same_data, notes)

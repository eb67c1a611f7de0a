"""One-line summaries of what a processing step reported, for the console and the run record.

The job log holds every quarantined file; the person watching ``scones pipeline run`` needs the
count and the reasons on the step's own line, and the evaluation's headline numbers.
"""

from __future__ import annotations

from common.metrics import accuracy_of


def quarantine_summary(report: dict) -> str:
    """``report.json`` of the corrupt-image check -> "3 of 1200 files quarantined (truncated 2, not_an_image 1)"."""
    bad, examined = report.get("bad", 0), report.get("examined", 0)
    reviewed = sum(split.get("reviewed", 0) for split in report.get("splits", {}).values() if isinstance(split, dict))
    joined = f"; {reviewed} reviewed images in the train split" if reviewed else ""
    if not bad:
        return f"0 of {examined} files quarantined{joined}"
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.get("reasons", {}).items()))
    return f"{bad} of {examined} files quarantined ({reasons}){joined}"


def evaluation_summary(report: dict) -> str:
    """``evaluation.json`` -> "accuracy=0.9861 ECE=0.0112 coverage@0.93=0.9792 (accuracy 1.0000)"."""
    accuracy = accuracy_of(report)
    parts = [f"accuracy={accuracy:.4f}"] if accuracy is not None else []
    calibration = report.get("calibration")
    if calibration:
        at = calibration.get("at_threshold", {})
        passed = f" (accuracy {at['accuracy']:.4f})" if at.get("accuracy") is not None else ""
        parts.append(f"ECE={calibration.get('expected_calibration_error', 0):.4f}")
        parts.append(f"coverage@{at.get('threshold', 0):.2f}={at.get('coverage', 0):.4f}{passed}")
    return " ".join(parts)


def summarize_outputs(documents: dict[str, dict]) -> str:
    """The summary for whichever known report a step wrote (``report.json``, ``evaluation.json``)."""
    if "report.json" in documents and "examined" in documents["report.json"]:
        return quarantine_summary(documents["report.json"])
    if "evaluation.json" in documents:
        return evaluation_summary(documents["evaluation.json"])
    if "summary.json" in documents and "below_threshold" in documents["summary.json"]:
        return batch_summary(documents["summary.json"])
    return ""


def batch_summary(summary: dict) -> str:
    """Batch scoring's ``summary.json`` -> "1000 images: 968 at or above 0.93, 32 below (to review)"."""
    unreadable = len(summary.get("unreadable", []))
    return (f"{summary.get('images', 0)} images: {summary.get('at_or_above_threshold', 0)} at or above "
            f"{summary.get('threshold', 0):g}, {summary.get('below_threshold', 0)} below (to review)"
            + (f"; {unreadable} unreadable outputs" if unreadable else ""))

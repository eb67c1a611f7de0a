"""Capture as pandas DataFrames: one row per prediction, grouped per version, per hour, per class.

The report, the drift tests, the plots and the dashboard all ask the same questions
of live traffic ("how many predictions did v3 answer last hour, and how many fell
below the threshold?"); a frame answers each with one ``groupby`` instead of a
hand-written loop per view, and every view counts the same rows the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scones.monitor.capture_reader import CaptureScan

COLUMNS = ("time", "version", "top", "label", "confidence")
UNKNOWN_VERSION = "?"


def predictions_frame(scan: CaptureScan, classes: list[str]) -> pd.DataFrame:
    """One row per captured prediction, oldest first; ``version`` is "?" where capture did not say."""
    if not scan.predictions:
        frame = pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in zip(
            COLUMNS, ("datetime64[ns, UTC]", "object", "int64", "object", "float64"), strict=True)})
        return frame
    tops = np.array([p.top for p in scan.predictions], dtype=np.int64)
    names = np.array(list(classes) + [UNKNOWN_VERSION], dtype=object)
    return pd.DataFrame({
        "time": pd.to_datetime([p.time for p in scan.predictions], utc=True),
        "version": [p.model_version or UNKNOWN_VERSION for p in scan.predictions],
        "top": tops,
        # a capture whose output has more columns than the model has classes is still counted, as "?"
        "label": names[np.minimum(tops, len(classes))],
        "confidence": np.array([p.confidence for p in scan.predictions], dtype=float),
    })


def class_counts(frame: pd.DataFrame, classes: list[str]) -> pd.Series:
    """Predictions per class in the model's class order, zero for a class never predicted."""
    return frame["label"].value_counts().reindex(classes, fill_value=0).astype(int)


def version_order(frame: pd.DataFrame) -> list[str]:
    """Versions seen, numerically where they are numbers ("2" before "10"), unknown last."""
    def key(version: str) -> tuple[int, int, str]:
        return (0, int(version), "") if version.isdigit() else (1, 0, version)

    return sorted(frame["version"].unique(), key=key)


def per_hour(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per UTC hour and version: predictions, how many below the threshold, mean confidence."""
    if frame.empty:
        return pd.DataFrame(columns=["hour", "version", "predictions", "below_threshold", "mean_confidence"])
    grouped = frame.assign(hour=frame["time"].dt.floor("h"), below=frame["confidence"] < threshold) \
        .groupby(["hour", "version"], sort=True)
    return grouped.agg(predictions=("confidence", "size"), below_threshold=("below", "sum"),
                       mean_confidence=("confidence", "mean")).reset_index()


def per_class(frame: pd.DataFrame, classes: list[str], threshold: float) -> pd.DataFrame:
    """Per predicted class: predictions, share of traffic, mean confidence, share below the threshold."""
    table = frame.assign(below=frame["confidence"] < threshold).groupby("label").agg(
        predictions=("confidence", "size"), mean_confidence=("confidence", "mean"), below=("below", "mean"))
    table = table.reindex(classes).fillna({"predictions": 0})
    table["share"] = table["predictions"] / max(len(frame), 1)
    return table

"""The evaluation report's metrics, read and written one way (the key path is ``common.defaults``').

``evaluation.json`` follows SageMaker's model-quality shape, ``<METRICS_KEY>.<metric>.value``;
the pipeline's ConditionStep reads :data:`~common.defaults.ACCURACY_JSON_PATH` from it. Every
reader (registry, engine summaries, notifications, dashboard, comparison) goes through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.defaults import ACCURACY_JSON_PATH, METRICS_KEY


def metrics_of(report: Any) -> dict:
    """The ``{metric: {"value": ...}}`` mapping of a report; empty for anything else."""
    metrics = report.get(METRICS_KEY) if isinstance(report, Mapping) else None
    return metrics if isinstance(metrics, dict) else {}


def metric_value(report: Any, name: str) -> Any:
    """One metric's ``value`` (``None`` when the report lacks it)."""
    entry = metrics_of(report).get(name)
    return entry.get("value") if isinstance(entry, Mapping) else None


def accuracy_of(report: Any) -> float | None:
    """The accuracy at :data:`~common.defaults.ACCURACY_JSON_PATH`, as the ConditionStep reads it."""
    value: Any = report
    for key in ACCURACY_JSON_PATH.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def report_with(metrics: Mapping[str, Any]) -> dict:
    """A report holding ``metrics`` (name -> value) in the model-quality shape."""
    return {METRICS_KEY: {name: {"value": value} for name, value in metrics.items()}}

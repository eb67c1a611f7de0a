"""A number in [0, 1] from text (a threshold, a sampling share): one parser for the settings, the dashboard
and the Lambdas, so all three refuse the same values (NaN and infinity too) in the same words."""

from __future__ import annotations

import math
from typing import Any


def share_value(raw: Any, name: str) -> float:
    """``raw`` as a float in [0, 1]; ValueError naming ``name`` and the value otherwise."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {raw!r}")
    return value

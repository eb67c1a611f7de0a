"""The alarms that roll a deployment back, defined once: the template makes them CloudWatch alarms, and the
local endpoint evaluates the same rules on its own requests while a new version bakes.

CloudWatch's evaluation, as the template configures it: each ``period`` gives one datapoint (the
sum of 5xx answers; the p99 of model latency); the alarm fires when ``datapoints_to_alarm`` of the
last ``evaluation_periods`` datapoints reach the threshold; a period without requests is missing
data, treated as not breaching.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

#: The template's ModelLatencyP99Microseconds default.
LATENCY_P99_MICROSECONDS = 500_000


@dataclass(frozen=True)
class AlarmRule:
    name: str  # the CloudWatch alarm's name, ${EndpointName} substituted by the template
    description: str
    metric: str  # AWS/SageMaker metric: Invocation5XXErrors or ModelLatency
    statistic: str  # Sum, or an extended statistic such as p99
    threshold: float
    period: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2


ROLLBACK_ALARMS = (
    AlarmRule("${EndpointName}-invocation-5xx-errors",
              "the endpoint answers with server errors (a blue/green update rolls back)",
              "Invocation5XXErrors", "Sum", 1),
    AlarmRule("${EndpointName}-model-latency-p99",
              "p99 model latency above ModelLatencyP99Microseconds (rolls an update back)",
              "ModelLatency", "p99", LATENCY_P99_MICROSECONDS),
)


class AlarmWatch:
    """The rollback alarms over one fleet's requests, as CloudWatch would evaluate them.

    ``period`` overrides the rules' 60 s (a test, or a demo that should not wait minutes); the
    other settings are the rules'.
    """

    def __init__(self, rules: tuple[AlarmRule, ...] = ROLLBACK_ALARMS, period: float | None = None,
                 latency_threshold_us: float | None = None, clock=time.monotonic):
        self.rules = rules
        self.period = float(period or rules[0].period)
        self.latency_threshold_us = latency_threshold_us
        self.clock = clock
        self.started = clock()
        self._buckets: dict[int, list] = {}  # period index -> [5xx count, latencies]
        self._lock = threading.Lock()

    def observe(self, status: int, latency_us: float) -> None:
        index = int((self.clock() - self.started) // self.period)
        with self._lock:
            bucket = self._buckets.setdefault(index, [0, []])
            bucket[0] += status >= 500
            bucket[1].append(latency_us)

    def _threshold(self, rule: AlarmRule) -> float:
        if rule.metric == "ModelLatency" and self.latency_threshold_us is not None:
            return self.latency_threshold_us
        return rule.threshold

    def _datapoint(self, rule: AlarmRule, bucket: list | None) -> float | None:
        if not bucket or not bucket[1]:
            return None  # missing data: not breaching
        if rule.metric == "Invocation5XXErrors":
            return float(bucket[0])
        latencies = sorted(bucket[1])
        return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]

    def firing(self) -> tuple[AlarmRule, list[float | None]] | None:
        """The first rule in ALARM with its datapoints (newest last), or None."""
        current = int((self.clock() - self.started) // self.period)
        with self._lock:
            buckets = {i: (b[0], list(b[1])) for i, b in self._buckets.items()}
        for rule in self.rules:
            window = range(max(0, current - rule.evaluation_periods + 1), current + 1)
            points = [self._datapoint(rule, buckets.get(i)) for i in window]
            breaching = sum(p is not None and p >= self._threshold(rule) for p in points)
            if breaching >= rule.datapoints_to_alarm:
                return rule, points
        return None

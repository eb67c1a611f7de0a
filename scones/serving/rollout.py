"""A blue/green rollout on the local endpoint, as SageMaker runs one: shift by the configured steps, bake each
step while the rollback alarms watch the new fleet, roll everything back to the old fleet on an alarm.

The first step is applied before :meth:`RolloutDriver.start` returns (an approval is visible at
once, as with the all-at-once swap); the bakes run on the driver's thread. A new deployment
cancels a rollout in flight: the next one starts from what serves then.
"""

from __future__ import annotations

import datetime as dt
import threading

from scones.deploy.alarms import AlarmWatch
from scones.deploy.modes import SINGLE_VARIANT, Rollout
from scones.serving.routing import Deployment, Fleet, Routing


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RolloutDriver(threading.Thread):
    def __init__(self, server, old: Deployment, new: Deployment, rollout: Rollout, watch: AlarmWatch, log=print,
                 on_rollback=None):
        super().__init__(name=f"rollout-v{new.version.version}", daemon=True)
        self.server = server
        self.old, self.new = old, new
        self.rollout = rollout
        self.watch = watch
        self.log = log
        self.on_rollback = on_rollback  # called with (driver, reason) after traffic is back on the old fleet
        self.steps = rollout.steps()
        self.step = 0
        self.state = "Baking"
        self.reason = ""
        self.started = _now()
        self.cancelled = threading.Event()

    def _route(self, share: float) -> None:
        shadow = self.server.routing.shadow if self.server.routing else None
        fleets = (Fleet(SINGLE_VARIANT, self.old, 1.0 - share), Fleet(SINGLE_VARIANT, self.new, share))
        self.server.set_routing(Routing(fleets, self.new, shadow))

    def begin(self) -> None:
        """Apply the first step, then bake on the thread."""
        self.server.watch_fleet(self.new, self.watch)
        self._route(self.steps[0])
        self.start()

    def run(self) -> None:
        for index, share in enumerate(self.steps):
            if index:
                self._route(share)
            self.step = index
            if self._bake():
                return
        if not self.cancelled.is_set():
            self.state = "Completed"
            shadow = self.server.routing.shadow if self.server.routing else None
            self.server.set_routing(Routing.single(self.new, SINGLE_VARIANT, shadow))
            self.server.watch_fleet(None, None)
            self.log(f"rollout of v{self.new.version.version} completed ({self.rollout})")

    def _bake(self) -> bool:
        """Wait out the step, checking the alarms each second (or period); True when the rollout ended."""
        remaining = float(self.rollout.wait_seconds)
        tick = min(1.0, self.watch.period / 2)
        while remaining > 0:
            if self.cancelled.wait(min(tick, remaining)):
                self.state = "Superseded"
                return True
            remaining -= tick
            firing = self.watch.firing()
            if firing is not None:
                rule, points = firing
                self._roll_back(f"alarm {rule.name.replace('${EndpointName}', self.server.endpoint_name)} "
                                f"({rule.metric} {rule.statistic} >= {self.watch._threshold(rule):g} in "
                                f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} periods: {points})")
                return True
        return False

    def _roll_back(self, reason: str) -> None:
        shadow = self.server.routing.shadow if self.server.routing else None
        self.server.set_routing(Routing.single(self.old, SINGLE_VARIANT, shadow))
        self.server.watch_fleet(None, None)
        self.state, self.reason = "RolledBack", reason
        self.log(f"rollout of v{self.new.version.version} rolled back to v{self.old.version.version}: {reason}")
        if self.on_rollback is not None:
            self.on_rollback(self, reason)

    def cancel(self) -> None:
        self.cancelled.set()

    def status(self) -> dict:
        return {"from": self.old.version.version, "to": self.new.version.version, "rollout": str(self.rollout),
                "kind": self.rollout.kind, "step": self.step + 1, "steps": len(self.steps),
                "share": self.steps[self.step], "state": self.state, "reason": self.reason, "started": self.started}

"""Which loaded model answers a request: the endpoint's production fleets by weight, a target variant, a shadow.

A :class:`Routing` is immutable and replaced whole (one reference assignment), as a deployment
was before: a request reads it once and finishes on the fleet it picked. SageMaker's rules:

- a request goes to a production variant with probability weight / sum of weights; during a
  blue/green rollout both fleets serve under the one variant name (``AllTraffic``), the new one
  taking the rollout's share;
- ``TargetVariant`` (the ``X-Amzn-SageMaker-Target-Variant`` header) picks a variant by name,
  whatever its weight; a name the endpoint does not have is a ValidationError;
- a shadow variant never answers the client: it sees a copy of (a share of) requests after the
  production answer is sent.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from dataclasses import dataclass, field

from scones.registry import ModelVersion
from training import inference


@dataclass(frozen=True)
class Deployment:
    version: ModelVersion
    model: inference.LoadedModel
    since: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


@dataclass(frozen=True)
class Fleet:
    """One model behind a variant name, with its weight (a shadow's: the share of requests it sees)."""

    variant: str
    deployment: Deployment
    weight: float = 1.0


@dataclass(frozen=True)
class Routing:
    fleets: tuple[Fleet, ...]
    primary: Deployment  # what the endpoint reports as live: the single version, a rollout's target, a split's heaviest
    shadow: Fleet | None = None
    _bounds: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = sum(f.weight for f in self.fleets)
        if total <= 0:
            raise ValueError("a routing needs a fleet with a weight above 0")
        object.__setattr__(self, "_bounds", tuple(itertools.accumulate(f.weight / total for f in self.fleets)))

    @classmethod
    def single(cls, deployment: Deployment, variant: str, shadow: Fleet | None = None) -> Routing:
        return cls((Fleet(variant, deployment),), deployment, shadow)

    def pick(self, draw: float) -> Fleet:
        """The fleet for a uniform ``draw`` in [0, 1): each takes its weight's share."""
        if len(self.fleets) == 1:
            return self.fleets[0]
        return self.fleets[min(bisect.bisect_right(self._bounds, draw), len(self.fleets) - 1)]

    def target(self, variant: str, draw: float) -> Fleet | None:
        """The named variant's fleet (by weight among fleets sharing the name, as in a rollout), or None."""
        named = [f for f in self.fleets if f.variant == variant and f.weight > 0]
        if not named:
            return None
        return named[0] if len(named) == 1 else Routing(tuple(named), self.primary).pick(draw)

    def variants(self) -> list[dict]:
        """Each fleet's variant, version and share of traffic (for the status page and the dashboard)."""
        total = sum(f.weight for f in self.fleets)
        return [{"variant": f.variant, "version": f.deployment.version.version, "share": f.weight / total,
                 "since": f.deployment.since} for f in self.fleets]

    def deployments(self) -> list[Deployment]:
        return [f.deployment for f in self.fleets] + ([self.shadow.deployment] if self.shadow else [])

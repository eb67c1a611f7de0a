"""How an endpoint is deployed, in one place: real-time or serverless, how traffic moves to a new version,
and which versions serve (one, a weighted A/B split, a shadow answering live traffic off the record).

Both backends read these: the SageMaker deployer turns them into an endpoint configuration and an
update policy (:mod:`scones.deploy.sagemaker`); the local endpoint routes, shadows, throttles and
rolls out by them (:mod:`scones.serving.server`). What SageMaker refuses together is refused here,
by name, before any call (:meth:`DeploymentMode.check`), so a laptop finds the exclusion a team
would otherwise discover after switching an account's endpoint:

- serverless endpoints take no shadow variants, one production variant only, no data capture
  (the classifier captures instead), CPU only, and no rolling deployment;
- a canary's first step is 1-50 % of the fleet, a linear step 10-50 %, a wait 0-3600 s
  (``CapacitySize`` and ``WaitIntervalInSeconds`` in UpdateEndpoint's ``BlueGreenUpdatePolicy``);
- serverless memory is 1024-6144 MB in 1 GB steps, concurrency 1-200, provisioned concurrency at
  most the maximum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from common.defaults import SHADOW_VARIANT_PREFIX
from scones.errors import InvalidInput

REALTIME, SERVERLESS = "realtime", "serverless"
ALL_AT_ONCE, CANARY, LINEAR = "ALL_AT_ONCE", "CANARY", "LINEAR"
#: The variant a single-version endpoint serves through (SageMaker's default name, and the capture folder's).
SINGLE_VARIANT = "AllTraffic"

_DURATION = re.compile(r"^(\d+)\s*(s|m|min|h)?$")
_UNIT = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def _seconds(text: str) -> int:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise InvalidInput(f"wait {text!r} is not a duration: write 300, 300s, 5m or 1h")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _percent(text: str) -> int:
    value = text.strip().rstrip("%")
    if not value.isdigit():
        raise InvalidInput(f"step {text!r} is not a whole percentage: write 10%")
    return int(value)


@dataclass(frozen=True)
class Rollout:
    """How traffic moves from the live fleet to a new version's: all at once, a canary then the rest, or linear steps.

    After each step the new fleet bakes for ``wait_seconds`` while the rollback alarms are watched;
    an alarm moves all traffic back to the old fleet (``AutoRollbackConfiguration``).
    """

    kind: str = ALL_AT_ONCE
    percent: int = 100
    wait_seconds: int = 300

    @classmethod
    def parse(cls, text: str) -> Rollout:
        """``all-at-once [WAIT]``, ``canary SIZE% WAIT`` or ``linear STEP% WAIT`` (WAIT: 300, 300s, 5m)."""
        words = text.replace(",", " ").split()
        kind = (words[0].lower() if words else "").replace("_", "-")
        if kind == "all-at-once" and len(words) <= 2:
            return cls(ALL_AT_ONCE, 100, _seconds(words[1]) if len(words) == 2 else 300).checked()
        if kind in ("canary", "linear") and len(words) == 3:
            return cls(kind.upper(), _percent(words[1]), _seconds(words[2])).checked()
        raise InvalidInput(f"rollout {text!r} is not one of: all-at-once, canary SIZE% WAIT, linear STEP% WAIT "
                           "(for example: canary 10% 5m)")

    def checked(self) -> Rollout:
        limits = {CANARY: (1, 50), LINEAR: (10, 50), ALL_AT_ONCE: (100, 100)}
        if self.kind not in limits:
            raise InvalidInput(f"rollout kind {self.kind!r} is not ALL_AT_ONCE, CANARY or LINEAR")
        low, high = limits[self.kind]
        if not low <= self.percent <= high:
            raise InvalidInput(f"a {self.kind.lower()} step of {self.percent}% is refused by SageMaker: "
                               f"it takes {low}-{high}% of the fleet")
        if not 0 <= self.wait_seconds <= 3600:
            raise InvalidInput(f"a wait of {self.wait_seconds} s is refused by SageMaker: it takes 0-3600 s")
        return self

    def steps(self) -> list[float]:
        """The new fleet's share of traffic after each step; the last is always 1."""
        if self.kind == ALL_AT_ONCE:
            return [1.0]
        if self.kind == CANARY:
            return [self.percent / 100, 1.0]
        shares = [min(1.0, self.percent * i / 100) for i in range(1, 100 // self.percent + 1)]
        return shares if shares[-1] == 1.0 else [*shares, 1.0]

    def traffic_routing(self) -> dict:
        """UpdateEndpoint's ``TrafficRoutingConfiguration``."""
        routing: dict = {"Type": self.kind, "WaitIntervalInSeconds": self.wait_seconds}
        if self.kind == CANARY:
            routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": self.percent}
        elif self.kind == LINEAR:
            routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": self.percent}
        return routing

    def __str__(self) -> str:
        if self.kind == ALL_AT_ONCE:
            return f"all-at-once {self.wait_seconds}s"
        return f"{self.kind.lower()} {self.percent}% {self.wait_seconds}s"


@dataclass(frozen=True)
class ServerlessConfig:
    """A serverless variant's ``ServerlessConfig``: memory, concurrent invocations, and those kept warm."""

    memory_mb: int = 2048
    max_concurrency: int = 20
    provisioned_concurrency: int = 0

    def checked(self) -> ServerlessConfig:
        if self.memory_mb not in range(1024, 6145, 1024):
            raise InvalidInput(f"serverless memory {self.memory_mb} MB is refused by SageMaker: "
                               "1024, 2048, 3072, 4096, 5120 or 6144")
        if not 1 <= self.max_concurrency <= 200:
            raise InvalidInput(f"serverless max concurrency {self.max_concurrency} is refused by SageMaker: 1-200")
        if not 0 <= self.provisioned_concurrency <= self.max_concurrency:
            raise InvalidInput(f"provisioned concurrency {self.provisioned_concurrency} must be 0 (none) to the "
                               f"max concurrency ({self.max_concurrency})")
        return self

    def request(self) -> dict:
        config = {"MemorySizeInMB": self.memory_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency:
            config["ProvisionedConcurrency"] = self.provisioned_concurrency
        return config


@dataclass(frozen=True)
class VariantSpec:
    """One version behind the endpoint: its variant name, and its weight (a shadow's: the share of requests it sees)."""

    name: str
    version: int
    weight: float = 1.0


@dataclass(frozen=True)
class Layout:
    """Which versions serve: the production variants (weights are relative, as SageMaker's), and a shadow."""

    production: tuple[VariantSpec, ...]
    shadow: VariantSpec | None = None

    @classmethod
    def single(cls, version: int, shadow: VariantSpec | None = None) -> Layout:
        return cls((VariantSpec(SINGLE_VARIANT, version),), shadow)

    @classmethod
    def split(cls, weights: dict[int, float], shadow: VariantSpec | None = None) -> Layout:
        """An A/B split: one variant per version, named ``v<N>``."""
        if len(weights) < 2:
            raise InvalidInput("a split needs two or more versions, for example: 3=90 4=10")
        if any(w <= 0 for w in weights.values()):
            raise InvalidInput("every version in a split needs a weight above 0 (0 would never be served)")
        return cls(tuple(VariantSpec(f"v{v}", v, float(w)) for v, w in weights.items()), shadow)

    @staticmethod
    def shadow_of(version: int, share: float = 1.0) -> VariantSpec:
        if not 0 < share <= 1:
            raise InvalidInput(f"a shadow sees a share of requests in (0, 1], got {share}")
        return VariantSpec(f"{SHADOW_VARIANT_PREFIX}v{version}", version, share)

    def with_shadow(self, shadow: VariantSpec | None) -> Layout:
        return Layout(self.production, shadow)

    def shares(self) -> dict[str, float]:
        total = sum(v.weight for v in self.production)
        return {v.name: v.weight / total for v in self.production}

    def versions(self) -> list[int]:
        return [v.version for v in self.production] + ([self.shadow.version] if self.shadow else [])

    def to_dict(self) -> dict:
        return {"production": [vars(v) for v in self.production], "shadow": vars(self.shadow) if self.shadow else None}

    @classmethod
    def from_dict(cls, data: dict) -> Layout:
        try:
            production = tuple(VariantSpec(str(v["name"]), int(v["version"]), float(v.get("weight", 1.0)))
                               for v in data["production"])
            shadow = data.get("shadow")
            return cls(production, VariantSpec(str(shadow["name"]), int(shadow["version"]),
                                               float(shadow.get("weight", 1.0))) if shadow else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"endpoint layout is not valid: {type(exc).__name__}: {exc}") from None


def parse_split(pairs: list[str]) -> dict[int, float]:
    """``["3=90", "4=10"]`` -> {3: 90.0, 4: 10.0}."""
    weights: dict[int, float] = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        try:
            weights[int(version.lstrip("v"))] = float(weight)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInput(f"{pair!r} is not VERSION=WEIGHT (for example 3=90)")
    return weights


@dataclass(frozen=True)
class DeploymentMode:
    """Real-time (instances) or serverless, and the rollout a new version takes."""

    kind: str = REALTIME
    rollout: Rollout = field(default_factory=Rollout)
    serverless: ServerlessConfig = field(default_factory=ServerlessConfig)

    @classmethod
    def parse(cls, kind: str = REALTIME, rollout: str = "all-at-once", memory_mb: int = 2048,
              max_concurrency: int = 20, provisioned_concurrency: int = 0) -> DeploymentMode:
        if kind not in (REALTIME, SERVERLESS):
            raise InvalidInput(f"deployment mode {kind!r} is not {REALTIME} or {SERVERLESS}")
        return cls(kind, Rollout.parse(rollout),
                   ServerlessConfig(memory_mb, max_concurrency, provisioned_concurrency).checked())

    @property
    def is_serverless(self) -> bool:
        return self.kind == SERVERLESS

    def check(self, layout: Layout | None = None, endpoint_capture: bool = False, gpu: bool = False) -> None:
        """Refuse, by name, what SageMaker does not allow together (before any call is made)."""
        if not self.is_serverless:
            return
        refused = []
        if layout is not None and layout.shadow is not None:
            refused.append("shadow variants (shadow a candidate on a real-time endpoint)")
        if layout is not None and len(layout.production) > 1:
            refused.append("more than one production variant (an A/B split needs a real-time endpoint)")
        if endpoint_capture:
            refused.append("data capture on the endpoint (in serverless mode the classifier captures instead)")
        if gpu:
            refused.append("GPU instances (serverless is CPU only)")
        if refused:
            raise InvalidInput("a serverless endpoint does not support " + "; ".join(refused))

    def describe(self) -> str:
        if self.is_serverless:
            s = self.serverless
            warm = f", {s.provisioned_concurrency} provisioned" if s.provisioned_concurrency else ""
            return (f"serverless ({s.memory_mb} MB, at most {s.max_concurrency} concurrent{warm}), "
                    f"rollout {self.rollout}")
        return f"real-time, rollout {self.rollout}"

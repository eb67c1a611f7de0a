"""What live traffic is compared with: the evaluation of the version that served it.

The report's overall verdict uses the reference version (the one asked for, else the one
that served the newest captured request, else the latest approved: an approved version that
failed to deploy never served, so it is no reference); each version seen in capture is also judged against its own
``evaluation.json`` from the registry, so a rollout that changes the model is not
reported as drift of the data. The CLI and the dashboard both read it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common import defaults
from scones.errors import SconesError
from scones.registry import ModelRegistry, ModelVersion

#: Classes assumed when no version carries an evaluation yet (the project's own use case).
DEFAULT_CLASSES = list(defaults.DEFAULT_CLASSES)


@dataclass(frozen=True)
class Reference:
    version: ModelVersion | None
    classes: list[str]
    evaluation: dict | None
    by_version: dict[str, dict] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"v{self.version.version}" if self.version else "none (no approved version)"


def reference(registry: ModelRegistry, group: str, version: int | None = None,
              seen: list[str] | None = None, served_last: str | None = None) -> Reference:
    """The reference version's evaluation, plus each ``seen`` version's own (unknown ones left out)."""
    chosen = None
    if version is None and served_last and served_last.isdigit():
        try:
            chosen = registry.get_version(group, int(served_last))
        except SconesError:
            chosen = None  # a version this registry does not know (another group's capture): not a reference
    try:
        if chosen is None:
            chosen = registry.get_version(group, version) if version is not None else registry.latest_approved(group)
    except SconesError:
        if version is not None:
            raise
        chosen = None  # no group yet: nothing to compare with
    evaluation = chosen.metrics if chosen and chosen.metrics else None
    classes = (evaluation or {}).get("evaluation", {}).get("classes") or list(DEFAULT_CLASSES)
    by_version = {}
    for name in seen or []:
        if not name.isdigit():
            continue
        try:
            metrics = registry.get_version(group, int(name)).metrics
        except SconesError:
            continue
        if metrics:
            by_version[name] = metrics
    return Reference(chosen, classes, evaluation, by_version)


def served_last(scan) -> str | None:
    """The model version that answered the newest captured request (capture is read oldest first)."""
    return next((p.model_version for p in reversed(scan.predictions) if p.model_version), None)


def versions_in(scan) -> list[str]:
    """The model versions named in a capture scan."""
    return sorted({p.model_version for p in scan.predictions if p.model_version})

"""Which backends a command talks to, from the environment (defaults: everything local).

| variable              | default                                  | AWS example        |
|-----------------------|------------------------------------------|--------------------|
| ``SCONES_HOME``       | ``./.scones``                            |                    |
| ``SCONES_REGISTRY``   | ``sqlite:///$SCONES_HOME/registry.db``   | ``sagemaker://``   |
| ``SCONES_STORE``      | ``file://$SCONES_HOME/store``            | ``s3://``          |
| ``SCONES_MODEL_GROUP``| ``common.defaults.MODEL_PACKAGE_GROUP``  |                    |
| ``SCONES_NOTIFY``     | ``outbox://$SCONES_HOME/outbox.jsonl``   | ``sns://<topic>``  |
| ``SCONES_THRESHOLD``  | the workflow's confidence bar            |                    |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common import defaults
from scones.errors import InvalidInput
from scones.notify import Notifier, open_notifier
from scones.registry import ModelRegistry, open_registry
from scones.store import ArtifactStore, open_store
from scones.workspace import Workspace


@dataclass(frozen=True)
class Settings:
    workspace: Workspace
    registry_uri: str
    store_uri: str
    model_group: str
    notify_uri: str
    threshold: float = defaults.CONFIDENCE_THRESHOLD

    @classmethod
    def from_env(cls) -> Settings:
        ws = Workspace.from_env()
        return cls(
            workspace=ws,
            registry_uri=os.environ.get("SCONES_REGISTRY", f"sqlite:///{ws.registry_db}"),
            store_uri=os.environ.get("SCONES_STORE", f"file://{ws.store}"),
            model_group=os.environ.get("SCONES_MODEL_GROUP", defaults.MODEL_PACKAGE_GROUP),
            notify_uri=os.environ.get("SCONES_NOTIFY", f"outbox://{ws.root / 'outbox.jsonl'}"),
            threshold=_threshold(os.environ.get("SCONES_THRESHOLD")),
        )

    def registry(self, uri: str | None = None) -> ModelRegistry:
        return open_registry(uri or self.registry_uri)

    def store(self, uri: str | None = None) -> ArtifactStore:
        return open_store(uri or self.store_uri)

    def notifier(self) -> Notifier:
        return open_notifier(self.notify_uri)

    def pipeline_kwargs(self, kwargs: dict | None = None) -> dict:
        """``get_pipeline`` keyword arguments with this configuration's model group (explicit ones win).

        The pipeline registers into the group the endpoint, the dashboard and the CLI read:
        ``SCONES_MODEL_GROUP`` reaches the writer as well as the readers.
        """
        return {"model_package_group_name": self.model_group, **(kwargs or {})}

    def child_environment(self) -> dict[str, str]:
        """The environment for a child process that must use these same backends (a launched run)."""
        return {**os.environ, "SCONES_HOME": str(self.workspace.root), "SCONES_REGISTRY": self.registry_uri,
                "SCONES_STORE": self.store_uri, "SCONES_MODEL_GROUP": self.model_group,
                "SCONES_NOTIFY": self.notify_uri, "SCONES_THRESHOLD": str(self.threshold)}


def _threshold(text: str | None) -> float:
    if text is None or not text.strip():
        return defaults.CONFIDENCE_THRESHOLD
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"SCONES_THRESHOLD must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"SCONES_THRESHOLD must be between 0 and 1, got {value}")
    return value

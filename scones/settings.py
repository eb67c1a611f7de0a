"""Which backends a command talks to, from the environment (defaults: everything local).

| variable              | default                                  | AWS example        |
|-----------------------|------------------------------------------|--------------------|
| ``SCONES_HOME``       | ``./.scones``                            |                    |
| ``SCONES_REGISTRY``   | ``sqlite:///$SCONES_HOME/registry.db``   | ``sagemaker://``   |
| ``SCONES_STORE``      | ``file://$SCONES_HOME/store``            | ``s3://``          |
| ``SCONES_MODEL_GROUP``| ``SconesModels``                         |                    |
| ``SCONES_NOTIFY``     | ``outbox://$SCONES_HOME/outbox.jsonl``   | ``sns://<topic>``  |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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

    @classmethod
    def from_env(cls) -> Settings:
        ws = Workspace.from_env()
        return cls(
            workspace=ws,
            registry_uri=os.environ.get("SCONES_REGISTRY", f"sqlite:///{ws.registry_db}"),
            store_uri=os.environ.get("SCONES_STORE", f"file://{ws.store}"),
            model_group=os.environ.get("SCONES_MODEL_GROUP", "SconesModels"),
            notify_uri=os.environ.get("SCONES_NOTIFY", f"outbox://{ws.root / 'outbox.jsonl'}"),
        )

    def registry(self, uri: str | None = None) -> ModelRegistry:
        return open_registry(uri or self.registry_uri)

    def store(self, uri: str | None = None) -> ArtifactStore:
        return open_store(uri or self.store_uri)

    def notifier(self) -> Notifier:
        return open_notifier(self.notify_uri)

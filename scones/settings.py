"""Which backends a command talks to, from the environment (defaults: everything local).

| variable              | default                                  | AWS example        |
|-----------------------|------------------------------------------|--------------------|
| ``SCONES_HOME``       | ``./.scones``                            |                    |
| ``SCONES_REGISTRY``   | ``sqlite:///$SCONES_HOME/registry.db``   | ``sagemaker://``   |
| ``SCONES_STORE``      | ``file://$SCONES_HOME/store``            | ``s3://``          |
| ``SCONES_MODEL_GROUP``| ``common.defaults.MODEL_PACKAGE_GROUP``  |                    |
| ``SCONES_NOTIFY``     | ``outbox://$SCONES_HOME/outbox.jsonl``   | ``sns://<topic>``  |
| ``SCONES_THRESHOLD``  | the workflow's confidence bar            |                    |
| ``SCONES_REVIEW``     | ``sqlite:///$SCONES_HOME/review.db``     |                    |
| ``SCONES_REVIEW_SAMPLE`` | ``common.defaults.REVIEW_SAMPLE`` (0.02) | ``0`` turns it off |
| ``SCONES_AWS_ENDPOINT_URL`` | none: AWS itself             | ``http://127.0.0.1:5000`` |
| ``SCONES_AWS_REGION`` | ``AWS_DEFAULT_REGION`` or ``us-east-1``  |                    |
| ``SCONES_DEPLOY_MODE`` | ``realtime``                            | ``serverless``     |
| ``SCONES_ROLLOUT``    | ``all-at-once``                          | ``canary 10% 5m``  |
| ``SCONES_SERVERLESS_MEMORY`` / ``_CONCURRENCY`` | 2048 MB / 20   |                    |

Every AWS client the platform makes (registry, store, notifier) comes from :meth:`Settings.aws_client`,
so an endpoint URL given here reaches all of them and nothing else: a local workflow's in-process
Step Functions world keeps its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common import defaults
from scones.deploy.modes import DeploymentMode
from scones.errors import InvalidInput
from scones.notify import Notifier, open_notifier
from scones.registry import ModelRegistry, open_registry
from scones.store import ArtifactStore, open_store
from scones.workspace import Workspace, definition_cache


@dataclass(frozen=True)
class Settings:
    workspace: Workspace
    registry_uri: str
    store_uri: str
    model_group: str
    notify_uri: str
    threshold: float = defaults.CONFIDENCE_THRESHOLD
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    review_uri: str = ""
    review_sample: float = defaults.REVIEW_SAMPLE
    deploy_mode: DeploymentMode = DeploymentMode()

    @classmethod
    def from_env(cls) -> Settings:
        ws = Workspace.from_env()
        return cls(
            workspace=ws,
            registry_uri=os.environ.get("SCONES_REGISTRY", f"sqlite:///{ws.registry_db}"),
            store_uri=os.environ.get("SCONES_STORE", f"file://{ws.store}"),
            model_group=os.environ.get("SCONES_MODEL_GROUP", defaults.MODEL_PACKAGE_GROUP),
            notify_uri=os.environ.get("SCONES_NOTIFY", f"outbox://{ws.root / 'outbox.jsonl'}"),
            threshold=_share("SCONES_THRESHOLD", defaults.CONFIDENCE_THRESHOLD),
            aws_endpoint_url=os.environ.get("SCONES_AWS_ENDPOINT_URL") or None,
            aws_region=os.environ.get("SCONES_AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            review_uri=os.environ.get("SCONES_REVIEW", f"sqlite:///{ws.root / 'review.db'}"),
            review_sample=_share("SCONES_REVIEW_SAMPLE", defaults.REVIEW_SAMPLE),
            deploy_mode=DeploymentMode.parse(
                os.environ.get("SCONES_DEPLOY_MODE") or defaults.DEPLOY_MODE,
                os.environ.get("SCONES_ROLLOUT") or defaults.ROLLOUT,
                _whole("SCONES_SERVERLESS_MEMORY", defaults.SERVERLESS_MEMORY_MB),
                _whole("SCONES_SERVERLESS_CONCURRENCY", defaults.SERVERLESS_MAX_CONCURRENCY)),
        )

    def aws_client(self, service: str, region: str | None = None):
        """A boto3 client for this configuration's AWS API: its region (or ``region``), and its endpoint URL."""
        import boto3

        return boto3.client(service, region_name=region or self.aws_region, endpoint_url=self.aws_endpoint_url)

    def registry(self, uri: str | None = None) -> ModelRegistry:
        return open_registry(uri or self.registry_uri, self.aws_client)

    def store(self, uri: str | None = None) -> ArtifactStore:
        return open_store(uri or self.store_uri, self.aws_client)

    def notifier(self) -> Notifier:
        return open_notifier(self.notify_uri, self.aws_client)

    @property
    def workflow_definitions(self) -> Path:
        """Where rendered state machines are kept: with the pipeline definitions, shared by this user's
        workspaces (rendering one imports the SageMaker SDK: 3 s of a new workspace's first classify)."""
        return definition_cache() / "workflows"

    @property
    def review_output(self) -> str:
        """Where answers land in A2I's output format (``<prefix>/review/``), read back as ground truth."""
        return f"s3://{defaults.LOCAL_BUCKET}/{defaults.BASE_PREFIX}/review"

    @property
    def reviewed_data(self) -> str:
        """Where ``scones review export`` stages answered images: the pipeline's ``ReviewedDataUrl`` default."""
        return f"s3://{defaults.LOCAL_BUCKET}/{defaults.BASE_PREFIX}/{defaults.REVIEWED_PATH}"

    def review_queue(self):
        from scones.review import open_review_queue

        return open_review_queue(self.review_uri or f"sqlite:///{self.workspace.root / 'review.db'}",
                                 self.aws_client, store=self.store(), output_prefix=self.review_output)

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
                "SCONES_NOTIFY": self.notify_uri, "SCONES_THRESHOLD": str(self.threshold),
                "SCONES_REVIEW": self.review_uri, "SCONES_REVIEW_SAMPLE": str(self.review_sample),
                "SCONES_AWS_REGION": self.aws_region, "SCONES_AWS_ENDPOINT_URL": self.aws_endpoint_url or "",
                "SCONES_DEPLOY_MODE": self.deploy_mode.kind, "SCONES_ROLLOUT": str(self.deploy_mode.rollout),
                "SCONES_SERVERLESS_MEMORY": str(self.deploy_mode.serverless.memory_mb),
                "SCONES_SERVERLESS_CONCURRENCY": str(self.deploy_mode.serverless.max_concurrency)}


def _share(name: str, default: float) -> float:
    from common.shares import share_value

    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return share_value(text, name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _whole(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise InvalidInput(f"{name} must be a whole number, got {text!r}")
    return int(text)

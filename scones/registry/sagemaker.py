"""SageMaker Model Registry backend (boto3; clients may be injected for tests)."""

from __future__ import annotations

import json
import logging

from scones.errors import InvalidInput, NotFound, SconesError
from scones.registry import HISTORY_REASON_CHARS, PENDING, ApprovalRecord, ModelRegistry, ModelVersion, now_iso
from scones.uris import S3Uri

logger = logging.getLogger(__name__)


#: History entries are metadata properties named approval.000, approval.001, ...
HISTORY_PREFIX = "approval."
#: SageMaker allows 50 customer metadata properties per model package.
MAX_METADATA_PROPERTIES = 50


def _history_entry(status: str, reason: str) -> str:
    """One history entry as a metadata value (at most 256 characters)."""
    return json.dumps({"s": status, "r": reason[:HISTORY_REASON_CHARS], "t": now_iso()}, separators=(",", ":"))


class SageMakerRegistry(ModelRegistry):
    def __init__(self, client=None, s3_client=None, region: str | None = None):
        super().__init__()
        import boto3

        self.client = client or boto3.client("sagemaker", region_name=region)
        self.s3 = s3_client or boto3.client("s3", region_name=self.client.meta.region_name)

    @classmethod
    def from_uri(cls, uri: str, client=None, s3_client=None) -> SageMakerRegistry:
        region = uri[len("sagemaker://"):].strip("/") or None
        return cls(client, s3_client, region)

    def _call(self, what: str, method, **kwargs):
        from botocore.exceptions import ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if "does not exist" in message or "not found" in message.lower() or "Could not find" in message:
                raise NotFound(f"{what}: {message}") from exc
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                raise InvalidInput(f"{what}: {message}") from exc
            raise SconesError(f"{what} failed: {message}") from exc

    def create_group(self, group: str, description: str = "") -> None:
        if group in self.list_groups():
            return
        self._call(f"create model package group {group!r}", self.client.create_model_package_group,
                   ModelPackageGroupName=group, ModelPackageGroupDescription=description or group)

    def list_groups(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_model_package_groups").paginate():
            names.extend(item["ModelPackageGroupName"] for item in page["ModelPackageGroupSummaryList"])
        return sorted(names)

    def _require_group(self, group: str) -> None:
        if group not in self.list_groups():
            raise NotFound(f"no model package group {group!r} (groups: {', '.join(self.list_groups()) or 'none'})")

    def register(self, group, model_data_url, image, metrics=None, status=PENDING, description="",
                 pipeline_execution="", environment=None) -> ModelVersion:
        self.create_group(group)
        accuracy = (metrics or {}).get("multiclass_classification_metrics", {}).get("accuracy", {}).get("value")
        kwargs = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": description or "registered by scones",
            "ModelApprovalStatus": status,
            "InferenceSpecification": {
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url, "Environment": environment or {}}],
                "SupportedContentTypes": ["image/png", "image/jpeg", "application/x-image", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        }
        properties = {HISTORY_PREFIX + "000": _history_entry(
            status, f"registered by {pipeline_execution}" if pipeline_execution else "registered")}
        if accuracy is not None:
            properties["accuracy"] = str(accuracy)
        kwargs["CustomerMetadataProperties"] = properties
        if pipeline_execution:
            kwargs["MetadataProperties"] = {"GeneratedBy": pipeline_execution}
        response = self._call(f"register a version in {group!r}", self.client.create_model_package, **kwargs)
        return self._describe(response["ModelPackageArn"])

    def _metrics(self, description: dict) -> dict:
        statistics = description.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
        if statistics.get("S3Uri"):
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                uri = S3Uri.parse(statistics["S3Uri"])
                return json.loads(self.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read())
            except (BotoCoreError, ClientError, ValueError, SconesError) as exc:
                # metrics are informative: a missing report must not hide the version itself
                logger.warning("metrics of %s unreadable: %s", description.get("ModelPackageArn"), exc)
        accuracy = description.get("CustomerMetadataProperties", {}).get("accuracy")
        if accuracy is None:
            return {}
        return {"multiclass_classification_metrics": {"accuracy": {"value": float(accuracy)}}}

    def _describe(self, arn: str) -> ModelVersion:
        d = self._call(f"describe {arn}", self.client.describe_model_package, ModelPackageName=arn)
        container = d.get("InferenceSpecification", {}).get("Containers", [{}])[0]
        created = d.get("CreationTime")
        return ModelVersion(
            group=d["ModelPackageGroupName"], version=int(d["ModelPackageVersion"]), arn=d["ModelPackageArn"],
            status=d.get("ModelApprovalStatus", PENDING), model_data_url=container.get("ModelDataUrl", ""),
            image=container.get("Image", ""), created=created.isoformat() if hasattr(created, "isoformat")
            else str(created or ""), metrics=self._metrics(d), description=d.get("ModelPackageDescription", ""),
            approval_description=d.get("ApprovalDescription", ""),
            pipeline_execution=d.get("MetadataProperties", {}).get("GeneratedBy", ""),
            environment=container.get("Environment", {}),
        )

    def _arns(self, group: str) -> list[str]:
        self._require_group(group)
        arns = []
        for page in self.client.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Ascending"):
            arns.extend(item["ModelPackageArn"] for item in page["ModelPackageSummaryList"])
        return arns

    def list_versions(self, group: str) -> list[ModelVersion]:
        return sorted((self._describe(arn) for arn in self._arns(group)), key=lambda v: v.version)

    def get_version(self, group: str, version: int) -> ModelVersion:
        by_version = {int(arn.rsplit("/", 1)[-1]): arn for arn in self._arns(group)}
        if int(version) not in by_version:
            raise self._missing_version(group, int(version), sorted(by_version))
        return self._describe(by_version[int(version)])

    def _set_status(self, group: str, version: int, status: str, reason: str) -> ModelVersion:
        arn = self.get_version(group, version).arn
        properties = self._properties(arn)
        entries = sorted(k for k in properties if k.startswith(HISTORY_PREFIX))
        number = int(entries[-1][len(HISTORY_PREFIX):]) + 1 if entries else 0
        removed = entries[: max(0, len(properties) + 1 - MAX_METADATA_PROPERTIES)]  # the oldest make room
        properties = {k: v for k, v in properties.items() if k not in removed}
        properties[f"{HISTORY_PREFIX}{number:03d}"] = _history_entry(status, reason)
        # the whole map is sent: SageMaker merges keys, moto replaces the map; both end up the same
        kwargs = {"ModelPackageArn": arn, "ModelApprovalStatus": status, "CustomerMetadataProperties": properties}
        if removed:
            kwargs["CustomerMetadataPropertiesToRemove"] = removed
        if reason:
            kwargs["ApprovalDescription"] = reason
        self._call(f"update {arn}", self.client.update_model_package, **kwargs)
        return self._describe(arn)

    def _properties(self, arn: str) -> dict[str, str]:
        d = self._call(f"describe {arn}", self.client.describe_model_package, ModelPackageName=arn)
        return dict(d.get("CustomerMetadataProperties") or {})

    def history(self, group: str, version: int) -> list[ApprovalRecord]:
        """Kept in the package's CustomerMetadataProperties (SageMaker keeps only the last description)."""
        properties = self._properties(self.get_version(group, version).arn)
        records = []
        for key in sorted(k for k in properties if k.startswith(HISTORY_PREFIX)):
            try:
                entry = json.loads(properties[key])
                records.append(ApprovalRecord(entry["s"], entry.get("r", ""), entry.get("t", "")))
            except (ValueError, KeyError, TypeError):
                records.append(ApprovalRecord("?", f"unreadable history entry {key}", ""))
        return records

"""SageMaker Model Registry backend (boto3; clients may be injected for tests)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from common import defaults
from common.metrics import accuracy_of, report_with
from scones.aws_errors import call
from scones.errors import NotFound, SconesError
from scones.registry import (
    APPROVED,
    HISTORY_REASON_CHARS,
    PENDING,
    ApprovalRecord,
    ModelRegistry,
    ModelVersion,
    now_iso,
)
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
    """The SageMaker Model Registry, in as few calls as each question needs.

    "Which version is the newest approved?" is one ``ListModelPackages`` (filtered by
    status, sorted newest first, one result) and one describe; a version is described by
    its ARN, which follows from the group's; a version's ``evaluation.json`` never changes,
    so it is read from S3 once per process; a poll for status changes reads summaries only.
    """

    def __init__(self, client=None, s3_client=None, region: str | None = None):
        super().__init__()
        import boto3

        self.client = client or boto3.client("sagemaker", region_name=region)
        self.s3 = s3_client or boto3.client("s3", region_name=self.client.meta.region_name)
        self._group_arns: dict[str, str] = {}
        self._metrics_cache: dict[str, dict] = {}

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> SageMakerRegistry:
        """``sagemaker://`` (the clients' region) or ``sagemaker://us-west-2`` (that region's)."""
        region = uri[len("sagemaker://"):].strip("/") or None
        if clients is None:
            return cls(region=region)
        return cls(clients("sagemaker", region=region), clients("s3", region=region), region)

    def create_group(self, group: str, description: str = "") -> None:
        try:
            self._group_arn(group)
        except NotFound:
            call(f"create model package group {group!r}", self.client.create_model_package_group,
                 ModelPackageGroupName=group, ModelPackageGroupDescription=description or group)

    def list_groups(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_model_package_groups").paginate():
            names.extend(item["ModelPackageGroupName"] for item in page["ModelPackageGroupSummaryList"])
        return sorted(names)

    def _group_arn(self, group: str) -> str:
        if group not in self._group_arns:
            try:
                described = call(f"describe model package group {group!r}",
                                 self.client.describe_model_package_group, ModelPackageGroupName=group)
            except NotFound:
                raise NotFound(f"no model package group {group!r} (groups: "
                               f"{', '.join(self.list_groups()) or 'none'})") from None
            self._group_arns[group] = described["ModelPackageGroupArn"]
        return self._group_arns[group]

    def _package_arn(self, group: str, version: int) -> str:
        """``...:model-package-group/Name`` -> ``...:model-package/name/N`` (SageMaker lower-cases the name)."""
        head = self._group_arn(group).split(":model-package-group/", 1)[0]
        return f"{head}:model-package/{group.lower()}/{int(version)}"

    def register(self, group, model_data_url, image, metrics=None, status=PENDING, description="",
                 pipeline_execution="", environment=None, metrics_uri="") -> ModelVersion:
        self.create_group(group)
        accuracy = accuracy_of(metrics)
        kwargs = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": description or "registered by scones",
            "ModelApprovalStatus": status,
            "InferenceSpecification": {
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url, "Environment": environment or {}}],
                "SupportedContentTypes": [*defaults.IMAGE_CONTENT_TYPES, defaults.JSON_CONTENT_TYPE],
                "SupportedResponseMIMETypes": [defaults.JSON_CONTENT_TYPE],
            },
        }
        properties = {HISTORY_PREFIX + "000": _history_entry(
            status, f"registered by {pipeline_execution}" if pipeline_execution else "registered")}
        if accuracy is not None:
            properties["accuracy"] = str(accuracy)
        kwargs["CustomerMetadataProperties"] = properties
        if pipeline_execution:
            kwargs["MetadataProperties"] = {"GeneratedBy": pipeline_execution}
        if metrics_uri:  # as the pipeline's RegisterModel step records it: the report stays in S3
            kwargs["ModelMetrics"] = {"ModelQuality": {"Statistics": {
                "ContentType": defaults.JSON_CONTENT_TYPE, "S3Uri": metrics_uri}}}
        response = call(f"register a version in {group!r}", self.client.create_model_package, **kwargs)
        return self._describe(response["ModelPackageArn"])

    def _metrics(self, description: dict) -> dict:
        """The version's evaluation.json, read once per process (a registered report never changes)."""
        arn = description.get("ModelPackageArn", "")
        if arn in self._metrics_cache:
            return self._metrics_cache[arn]
        statistics = description.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
        metrics: dict = {}
        if statistics.get("S3Uri"):
            from botocore.exceptions import BotoCoreError

            try:
                uri = S3Uri.parse(statistics["S3Uri"])
                body = call(f"read {statistics['S3Uri']}", self.s3.get_object, Bucket=uri.bucket, Key=uri.key)
                metrics = json.loads(body["Body"].read())
            except (BotoCoreError, ValueError, SconesError) as exc:
                # metrics are informative: a missing report must not hide the version itself (not cached)
                logger.warning("metrics of %s unreadable: %s", arn, getattr(exc, "message", exc))
                return self._fallback_metrics(description)
        else:
            metrics = self._fallback_metrics(description)
        self._metrics_cache[arn] = metrics
        return metrics

    @staticmethod
    def _fallback_metrics(description: dict) -> dict:
        accuracy = description.get("CustomerMetadataProperties", {}).get("accuracy")
        if accuracy is None:
            return {}
        return report_with({"accuracy": float(accuracy)})

    def _describe(self, arn: str) -> ModelVersion:
        d = call(f"describe {arn}", self.client.describe_model_package, ModelPackageName=arn)
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

    def _summaries(self, group: str, status: str | None = None, newest_first: bool = False,
                   limit: int | None = None) -> Iterator[dict]:
        """Model package summaries, page by page (lazily: a caller that stops early pays for one page)."""
        self._group_arn(group)
        kwargs = {"ModelPackageGroupName": group, "SortBy": "CreationTime",
                  "SortOrder": "Descending" if newest_first else "Ascending"}
        if status:
            kwargs["ModelApprovalStatus"] = status
        if limit:
            kwargs["MaxResults"] = limit
            yield from call(f"list versions of {group!r}", self.client.list_model_packages,
                            **kwargs)["ModelPackageSummaryList"][:limit]
            return
        for page in self.client.get_paginator("list_model_packages").paginate(**kwargs):
            yield from page["ModelPackageSummaryList"]

    def statuses(self, group: str) -> dict[int, str]:
        """Version -> approval status from the listing alone (no describe, no S3): what a poll needs."""
        return {int(item["ModelPackageVersion"]): item.get("ModelApprovalStatus", PENDING)
                for item in self._summaries(group)}

    def list_versions(self, group: str) -> list[ModelVersion]:
        return sorted((self._describe(item["ModelPackageArn"]) for item in self._summaries(group)),
                      key=lambda v: v.version)

    def get_version(self, group: str, version: int) -> ModelVersion:
        try:
            return self._describe(self._package_arn(group, version))
        except NotFound:
            raise self._missing_version(group, int(version), sorted(self.statuses(group))) from None

    def approved_newest_first(self, group: str) -> Iterator[ModelVersion]:
        for item in self._summaries(group, status=APPROVED, newest_first=True):
            yield self._describe(item["ModelPackageArn"])

    def latest_approved(self, group: str) -> ModelVersion | None:
        newest = next(iter(self._summaries(group, status=APPROVED, newest_first=True, limit=1)), None)
        return self._describe(newest["ModelPackageArn"]) if newest else None

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
        call(f"update {arn}", self.client.update_model_package, **kwargs)
        return self._describe(arn)

    def _properties(self, arn: str) -> dict[str, str]:
        d = call(f"describe {arn}", self.client.describe_model_package, ModelPackageName=arn)
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

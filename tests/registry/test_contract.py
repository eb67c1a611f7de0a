"""One suite, both registry backends: local SQLite and SageMaker (against moto)."""

import concurrent.futures
import json
import multiprocessing

import boto3
import pytest
from moto import mock_aws

from scones.errors import NotFound
from scones.registry import APPROVED, EVENT_DETAIL_TYPE, PENDING, REJECTED, open_registry
from scones.registry.local import SqliteRegistry

METRICS = {"multiclass_classification_metrics": {"accuracy": {"value": 0.91, "standard_deviation": 0.01}}}


@pytest.fixture(params=["sqlite", "sagemaker"])
def registry(request, tmp_path):
    if request.param == "sqlite":
        yield open_registry(f"sqlite:///{tmp_path}/registry.db")
        return
    with mock_aws():
        yield open_registry("sagemaker://us-east-1", lambda service, region=None: boto3.client(service,
                                                                                              region_name=region))


def _register(registry, n=1, group="Scones"):
    return [registry.register(group, f"s3://bkt/model-{i}.tar.gz", "image:1", METRICS) for i in range(n)]


def test_register_numbers_versions_and_keeps_metrics(registry):
    first, second = _register(registry, 2)
    assert (first.version, second.version) == (1, 2)
    assert first.status == PENDING and first.accuracy == pytest.approx(0.91)
    assert registry.list_groups() == ["Scones"]
    assert [v.model_data_url for v in registry.list_versions("Scones")] == [
        "s3://bkt/model-0.tar.gz", "s3://bkt/model-1.tar.gz"]
    assert registry.get_version("Scones", 2).arn.endswith("/2")


def test_approve_and_reject_with_reason_emit_state_change_events(registry):
    _register(registry, 2)
    events = []
    registry.subscribe(events.append)
    approved = registry.approve("Scones", 1, "good enough")
    rejected = registry.reject("Scones", 2, "misses mopeds")
    assert (approved.status, rejected.status) == (APPROVED, REJECTED)
    assert registry.get_version("Scones", 2).approval_description == "misses mopeds"
    assert [e["detail"]["ModelApprovalStatus"] for e in events] == [APPROVED, REJECTED]
    event = events[0]
    assert event["detail-type"] == EVENT_DETAIL_TYPE and event["source"] == "aws.sagemaker"
    assert event["detail"]["ModelPackageGroupName"] == "Scones"
    assert event["detail"]["ModelPackageVersion"] == 1
    assert event["resources"] == [approved.arn]
    assert event["detail"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == "s3://bkt/model-0.tar.gz"


def test_latest_approved(registry):
    _register(registry, 3)
    assert registry.latest_approved("Scones") is None
    registry.approve("Scones", 1)
    registry.approve("Scones", 2)
    registry.reject("Scones", 2)
    assert registry.latest_approved("Scones").version == 1


def test_unknown_version_and_group_are_clear_errors(registry):
    _register(registry, 2)
    with pytest.raises(NotFound, match=r"has no version 7 \(versions: 1, 2\)"):
        registry.approve("Scones", 7)
    with pytest.raises(NotFound, match="no model package group 'Nope'"):
        registry.list_versions("Nope")


def test_invalid_status_is_refused(registry):
    from scones.errors import InvalidInput

    _register(registry)
    with pytest.raises(InvalidInput, match="status must be one of"):
        registry.set_status("Scones", 1, "Maybe")


def _register_many(path, count):
    registry = SqliteRegistry(path)
    return [registry.register("Scones", "s3://bkt/m.tar.gz", "img").version for _ in range(count)]


def test_concurrent_registrations_never_share_a_version(tmp_path):
    path = tmp_path / "registry.db"
    SqliteRegistry(path)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=context) as pool:
        results = list(pool.map(_register_many, [path] * 4, [10] * 4))
    versions = [v for batch in results for v in batch]
    assert sorted(versions) == list(range(1, 41))


def test_local_events_can_be_followed_from_another_process(tmp_path):
    writer = SqliteRegistry(tmp_path / "r.db")
    reader = SqliteRegistry(tmp_path / "r.db")
    start = reader.last_event_id()
    writer.register("G", "s3://bkt/m.tar.gz", "img")
    writer.approve("G", 1)
    events = reader.events_since(start)
    assert [e["detail"]["ModelApprovalStatus"] for _, e in events] == [APPROVED]
    assert reader.events_since(events[-1][0]) == []


def test_unknown_registry_scheme_lists_the_valid_ones():
    from scones.errors import InvalidInput

    with pytest.raises(InvalidInput, match="sqlite:///path/registry.db, sagemaker://"):
        open_registry("mlflow://x")


def test_event_source_reports_each_status_change_once(registry):
    """scones.events: the events table for SQLite, polling for SageMaker; the same events either way."""
    from scones.events import open_event_source

    uri = "sqlite:///x" if isinstance(registry, SqliteRegistry) else "sagemaker://"
    _register(registry, 2)
    source = open_event_source(uri, registry, "Scones")
    source.start()
    assert source.poll() == []
    registry.approve("Scones", 2, "good")
    registry.reject("Scones", 1, "bad")
    events = [event for _, event in source.poll()]
    changes = sorted((e["detail"]["ModelPackageVersion"], e["detail"]["ModelApprovalStatus"]) for e in events)
    assert changes == [(1, REJECTED), (2, APPROVED)]
    assert all(e["detail-type"] == EVENT_DETAIL_TYPE for e in events)
    assert source.poll() == []


def test_history_keeps_every_decision_with_its_reason(registry):
    _register(registry, 2)
    registry.approve("Scones", 1, "good enough [by ana, dashboard]")
    registry.reject("Scones", 1, "misses mopeds")
    registry.approve("Scones", 1, "")
    history = registry.history("Scones", 1)
    assert [(h.status, h.reason) for h in history] == [
        (PENDING, "registered"), (APPROVED, "good enough [by ana, dashboard]"), (REJECTED, "misses mopeds"),
        (APPROVED, "")]
    assert all(h.at.startswith("20") for h in history)
    assert [h.status for h in registry.history("Scones", 2)] == [PENDING]  # one version's history only
    assert registry.get_version("Scones", 1).accuracy == pytest.approx(0.91)  # metadata kept beside it
    with pytest.raises(NotFound):
        registry.history("Scones", 9)


class CallCounter:
    """Counts the API operations a boto3 client makes (botocore's before-call event)."""

    def __init__(self, *clients):
        self.calls: list[str] = []
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model, **_):
        self.calls.append(model.name)

    def take(self) -> dict[str, int]:
        counts = {name: self.calls.count(name) for name in sorted(set(self.calls))}
        self.calls.clear()
        return counts


@pytest.fixture
def counted():
    from scones.registry.sagemaker import SageMakerRegistry

    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bkt")
        registry = SageMakerRegistry(sagemaker, s3)
        sagemaker.create_model_package_group(ModelPackageGroupName="G")
        for number in range(1, 7):  # as the pipeline registers them: metrics are evaluation.json in S3
            report = {"multiclass_classification_metrics": {"accuracy": {"value": 0.8 + number / 100}}}
            s3.put_object(Bucket="bkt", Key=f"eval/{number}.json", Body=json.dumps(report).encode())
            sagemaker.create_model_package(
                ModelPackageGroupName="G", ModelApprovalStatus=APPROVED if number in (2, 3, 5) else PENDING,
                InferenceSpecification={"Containers": [{"Image": "i", "ModelDataUrl": f"s3://bkt/{number}.tar.gz"}],
                                        "SupportedContentTypes": ["image/png"],
                                        "SupportedResponseMIMETypes": ["application/json"]},
                ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                              "S3Uri": f"s3://bkt/eval/{number}.json"}}})
        yield registry, CallCounter(sagemaker, s3)


def test_latest_approved_is_one_list_call_and_one_describe(counted):
    registry, counter = counted
    latest = registry.latest_approved("G")
    assert (latest.version, latest.accuracy) == (5, pytest.approx(0.85))
    assert counter.take() == {"DescribeModelPackageGroup": 1, "ListModelPackages": 1, "DescribeModelPackage": 1,
                              "GetObject": 1}
    registry.latest_approved("G")
    assert counter.take() == {"ListModelPackages": 1, "DescribeModelPackage": 1}, "metrics read once per version"


def test_get_version_describes_one_package_and_a_poll_reads_summaries_only(counted):
    registry, counter = counted
    assert registry.get_version("G", 4).model_data_url == "s3://bkt/4.tar.gz"
    assert counter.take() == {"DescribeModelPackageGroup": 1, "DescribeModelPackage": 1, "GetObject": 1}
    assert registry.statuses("G") == {1: PENDING, 2: APPROVED, 3: APPROVED, 4: PENDING, 5: APPROVED, 6: PENDING}
    assert counter.take() == {"ListModelPackages": 1}
    with pytest.raises(NotFound, match=r"versions: 1, 2, 3, 4, 5, 6"):
        registry.get_version("G", 9)


def test_rollback_candidates_are_read_lazily_newest_first(counted):
    registry, counter = counted
    candidates = registry.approved_newest_first("G")
    assert next(candidates).version == 5
    assert counter.take()["DescribeModelPackage"] == 1, "one candidate described, not all six versions"
    assert [v.version for v in candidates] == [3, 2]

"""The whole story against an AWS API: a moto_server this test starts, in its own process.

Local compute, AWS backends: the local engine runs the jobs here while every artifact
lands in S3, each version is a model package in the SageMaker Model Registry (with
ModelMetrics pointing at its evaluation.json in S3), approval is UpdateModelPackage, the
change reaches the endpoint's deployer by polling the registry, the workflow's serializer
reads the images from S3 and notifications go to SNS. SageMaker's own local mode cannot
do this: it refuses RegisterModel steps.
"""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest

from scones.settings import Settings
from scones.workspace import Workspace
from tests import support

REGION = "us-east-1"
GROUP = "SconesModels"


@pytest.fixture(scope="module")
def moto_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).read()
            break
        except OSError:
            assert process.poll() is None, "moto_server exited"
            assert time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws(moto_server, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = lambda name: boto3.client(name, region_name=REGION, endpoint_url=moto_server)  # noqa: E731
    client("s3").create_bucket(Bucket="scones-local")
    topic = client("sns").create_topic(Name="scones-notify")["TopicArn"]
    queue = client("sqs").create_queue(QueueName="inbox")["QueueUrl"]
    arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    settings = Settings(workspace=Workspace(tmp_path / "home"), registry_uri=f"sagemaker://{REGION}",
                        store_uri="s3://", model_group=GROUP, notify_uri=f"sns://{topic}",
                        aws_endpoint_url=moto_server, aws_region=REGION)

    def inbox() -> list[dict]:
        found = []
        while True:
            batch = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    return settings, client, inbox


def _run(settings, tiny_archive, epochs):
    from scones.engine.local_run import run_local_pipeline
    from scones.engine.progress import QuietReporter

    record = run_local_pipeline(settings.store(), settings.registry(), settings.workspace.runs,
                                settings.workspace.data, parameters={"Epochs": epochs, "BatchSize": 16},
                                input_path=tiny_archive, pipeline_kwargs=settings.pipeline_kwargs(),
                                reporter=QuietReporter(), notifier=settings.notifier())
    assert record.status == "Succeeded", record.failure_reason
    return record


def test_register_approve_serve_classify_reject_rollback_on_an_aws_api(aws, tiny_archive):
    from scones.serving.run import build_server
    from scones.workflow.classify import classify_images
    from scones.workflow.runtime import ImageBucket

    settings, client, inbox = aws
    _run(settings, tiny_archive, epochs=3)

    # every artifact is in S3, and the version is a model package whose metrics are its evaluation.json there
    keys = [o["Key"] for o in client("s3").list_objects_v2(Bucket="scones-local")["Contents"]]
    assert any(k.endswith("/model.tar.gz") for k in keys) and any(k.endswith("/evaluation.json") for k in keys)
    [package] = client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    described = client("sagemaker").describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/evaluation.json")
    assert settings.registry().get_version(GROUP, 1).metrics["calibration"]["expected_calibration_error"] >= 0
    assert [m["kind"] for m in inbox()] == ["model_registered"]

    server, watcher = build_server(settings, "scones-endpoint", port=0, log=lambda line: None)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        assert server.deployment is None, "nothing approved yet"
        settings.registry().approve(GROUP, 1, "first")  # UpdateModelPackage on the AWS API
        watcher.poll_once()  # the deployer sees the change by polling the registry
        assert server.deployment.version.version == 1

        good, damaged = support.random_png(seed=3), support.truncated_png()
        report = classify_images([("good.png", good), ("damaged.png", damaged)], server.url, "scones-endpoint",
                                 ["bicycle", "motorcycle"], 0.0, batch=False, notifier=settings.notifier(),
                                 bucket=ImageBucket(settings.aws_client("s3"), "scones-local"))
        assert [r.status for r in report.results] == ["passed", "review"]
        inputs = client("s3").list_objects_v2(Bucket="scones-local", Prefix="inputs/")["Contents"]
        assert len(inputs) == 2, "the serializer read the images from S3 on the AWS API"
        messages = inbox()
        assert [m["kind"] for m in messages if m["kind"] == "human_review"] == ["human_review"]

        _run(settings, tiny_archive, epochs=3)  # v2: every job a cache hit, a new registration
        settings.registry().approve(GROUP, 2, "second")
        watcher.poll_once()
        assert server.deployment.version.version == 2
        settings.registry().reject(GROUP, 2, "misses mopeds")
        watcher.poll_once()
        assert server.deployment.version.version == 1, "rejecting the live version rolled back"
        assert [d["action"] for d in watcher.decisions if d["action"] != "ignored"] == [
            "deployed", "deployed", "rolled_back"]
        kinds = [m["kind"] for m in inbox()]
        assert kinds.count("deployment") >= 1 and "model_registered" in kinds
        history = [h.status for h in settings.registry().history(GROUP, 2)]
        assert history == ["PendingManualApproval", "Approved", "Rejected"]
    finally:
        server.shutdown()
        server.server_close()
        server.capture.close()

"""The local endpoint following the SageMaker Model Registry (moto): it starts, and an approval redeploys it.

It used to die at start with AttributeError: the watcher called the SQLite registry's own event
methods. Now it reads events through :mod:`scones.events`, which polls any other registry.
"""

import threading

import boto3
import pytest
from moto import mock_aws

from scones.settings import Settings
from scones.workspace import Workspace
from tests import support


@pytest.fixture
def aws_settings(tmp_path, trained_model):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="scones-models")
        settings = Settings(workspace=Workspace(tmp_path / "home"), registry_uri="sagemaker://", store_uri="s3://",
                            model_group="SconesModels", notify_uri=f"outbox://{tmp_path / 'outbox.jsonl'}")
        store, registry = settings.store(), settings.registry()
        for version in (1, 2):
            uri = f"s3://scones-models/v{version}/model.tar.gz"
            store.put_file(trained_model, uri)
            registry.register(settings.model_group, uri, "pytorch-inference:2.6.0-cpu-py312")
        registry.approve(settings.model_group, 1, "first")
        yield settings


def test_endpoint_serves_and_redeploys_from_the_sagemaker_registry(aws_settings):
    from scones.events import PollingEventSource
    from scones.serving.client import runtime_client
    from scones.serving.run import build_server

    server, watcher = build_server(aws_settings, "scones-endpoint", port=0, log=lambda line: None)
    assert isinstance(watcher.events, PollingEventSource)
    watcher.poll_seconds = 0.05
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    watcher.start()
    try:
        assert server.deployment.version.version == 1
        client = runtime_client(server.url)
        body = support.random_png()
        first = client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png", Body=body)
        assert first["CustomAttributes"] == "model-version=1"
        aws_settings.registry().approve(aws_settings.model_group, 2, "better")  # UpdateModelPackage
        support.wait_for(lambda: server.deployment.version.version == 2)
        second = client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png", Body=body)
        assert second["CustomAttributes"] == "model-version=2"
        assert [d["action"] for d in watcher.decisions] == ["deployed"]
    finally:
        watcher.stop()
        server.shutdown()
        server.server_close()
        server.capture.close()

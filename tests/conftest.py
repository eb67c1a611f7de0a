"""Shared fixtures: a tiny synthetic CIFAR-100 archive, its ETL output, and a trained model.

Session-scoped so the suite trains one model, not one per test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from training.recipe import Recipe

# Tests never touch AWS or the network: fake credentials (moto's convention), no instance
# metadata lookups, one region.
os.environ.update({
    "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
})
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

TINY_TRAIN_PER_CLASS = 60
TINY_TEST_PER_CLASS = 20


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory) -> Path:
    from processing.synth import write_synthetic_archive

    path = tmp_path_factory.mktemp("archive") / "cifar-100-python.tar.gz"
    return write_synthetic_archive(path, ("bicycle", "motorcycle"), TINY_TRAIN_PER_CLASS, TINY_TEST_PER_CLASS, seed=1)


@pytest.fixture(scope="session")
def tiny_etl(tiny_archive, tmp_path_factory) -> Path:
    from processing.etl import run_etl

    out = tmp_path_factory.mktemp("etl")
    run_etl(str(tiny_archive), out, ("bicycle", "motorcycle"), validation_fraction=0.25, seed=0)
    return out


@pytest.fixture
def etl_copy(tiny_etl, tmp_path) -> Path:
    """A private copy of the ETL output that a test may damage."""
    return Path(shutil.copytree(tiny_etl, tmp_path / "etl"))


@pytest.fixture(scope="session")
def trained_model(tiny_etl, tmp_path_factory) -> Path:
    """A model trained on the tiny set; returns the path of its model.tar.gz."""
    from scones.artifacts import pack_model_dir
    from training.train import train

    root = tmp_path_factory.mktemp("model")
    train(tiny_etl / "train", tiny_etl / "validation", root / "model",
          log=lambda line: None, recipe=Recipe(epochs=6, batch_size=16, seed=0))
    return pack_model_dir(root / "model", root / "model.tar.gz")


@pytest.fixture
def no_network(monkeypatch):
    """Fail any connection that leaves this machine, and record every AWS API call attempted."""
    import socket

    import botocore.client

    attempts: list = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(sock, address)
        attempts.append(address)
        raise OSError(f"test blocked a network connection to {address}")

    def guarded_api_call(client, operation, params):
        attempts.append(operation)
        raise AssertionError(f"test blocked an AWS API call: {operation}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", guarded_api_call)
    return attempts


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A private SCONES_HOME with default (local) backends."""
    monkeypatch.setenv("SCONES_HOME", str(tmp_path / "home"))
    for name in ("SCONES_REGISTRY", "SCONES_STORE", "SCONES_MODEL_GROUP", "SCONES_REVIEW"):
        monkeypatch.delenv(name, raising=False)
    from scones.settings import Settings

    return Settings.from_env()


@pytest.fixture
def served(workspace, trained_model):
    """A workspace whose registry holds the tiny model as v1 (Approved) and v2 (Pending)."""
    store, registry = workspace.store(), workspace.registry()
    for version in (1, 2):
        uri = f"s3://scones-local/models/v{version}/model.tar.gz"
        store.put_file(trained_model, uri)
        registry.register(workspace.model_group, uri, "pytorch-inference:2.6.0-cpu-py312",
                          {"multiclass_classification_metrics": {"accuracy": {"value": 0.9}}})
    registry.approve(workspace.model_group, 1, "first")
    return workspace


@pytest.fixture
def endpoint(served):
    """The local endpoint serving ``served``'s v1 on a free port, in this process."""
    import threading

    from scones.serving.client import runtime_client
    from scones.serving.run import build_server

    server, watcher = build_server(served, "scones-endpoint", port=0, log=lambda line: None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watcher.poll_seconds = 0.05
    watcher.start()
    yield server, watcher, runtime_client(server.url)
    watcher.stop()
    server.shutdown()
    server.server_close()
    server.close_capture()

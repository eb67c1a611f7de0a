"""The engine on a fresh store (holding s3://bkt/data/in.txt = "hello"), registry and runs folder."""

import pytest

from scones.engine.executor import LocalPipelineExecutor
from scones.engine.progress import QuietReporter
from scones.registry.local import SqliteRegistry
from scones.store.local import LocalStore


@pytest.fixture
def engine(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("s3://bkt/data/in.txt", b"hello")
    registry = SqliteRegistry(tmp_path / "registry.db")
    return LocalPipelineExecutor(store, registry, tmp_path / "runs", QuietReporter())

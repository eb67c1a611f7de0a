"""The engine on a fresh store (holding s3://bkt/data/in.txt = "hello"), registry and runs folder."""

import json
import sys

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


@pytest.fixture
def served_artifact(engine, trained_model, tiny_etl, tmp_path):
    """The tiny model in the store, six test PNGs under s3://bkt/images/, and the handler to compare with."""
    engine.store.put_file(trained_model, "s3://bkt/model/model.tar.gz")
    images = sorted((tiny_etl / "test").rglob("*.png"))[:6]
    for index, path in enumerate(images):
        engine.store.put_bytes(f"s3://bkt/images/{'sub/' if index % 2 else ''}{path.name}", path.read_bytes())
    from scones.artifacts import unpack_model

    code = unpack_model(trained_model, tmp_path / "reference") / "code"
    sys.path.insert(0, str(code))
    try:
        from training.inference import model_fn, transform_fn
    finally:
        sys.path.remove(str(code))
    model = model_fn(str(tmp_path / "reference"))
    return images, lambda body, content_type="image/png": json.loads(
        transform_fn(model, body, content_type, "application/json")[0])

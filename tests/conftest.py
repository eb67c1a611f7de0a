"""Shared fixtures: a tiny synthetic CIFAR-100 archive, its ETL output, and a trained model.

Session-scoped so the suite trains one model, not one per test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

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
    train(tiny_etl / "train", tiny_etl / "validation", root / "model", epochs=6, learning_rate=0.02,
          batch_size=32, seed=0, log=lambda line: None)
    return pack_model_dir(root / "model", root / "model.tar.gz")

"""Bring your own images: a class-per-folder dataset of mixed sizes and formats, one corrupt file."""

import json

import numpy as np
import pytest
from PIL import Image

from common.manifest import read_classes, read_image_size, read_lst
from processing import check, etl, evaluate
from scones.artifacts import pack_model_dir
from tests import support
from training import inference, train
from training.recipe import Recipe

CLASSES = ["cat.small", "dog", "red fox"]
COLOURS = {"cat.small": (200, 60, 60), "dog": (60, 200, 60), "red fox": (60, 60, 200)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    formats = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
    for c, name in enumerate(CLASSES):
        for i in range(24):
            fmt, suffix = formats[i % 3]
            size = [(64, 48), (120, 200), (33, 33), (500, 300)][i % 4]
            support.write(root / name / f"photo {i}{suffix}", support.photo(COLOURS[name], size, c * 100 + i, fmt))
    support.write(root / "dog" / "broken.jpg", b"\xff\xd8\xff this is not really a jpeg")
    return root


def test_folder_etl_check_train_evaluate(folder, tmp_path):
    manifest = etl.run_etl(str(folder), tmp_path / "etl", [], validation_fraction=0.2, seed=0)
    assert manifest["classes"] == CLASSES and manifest["undecodable_passed_to_check"] == 1
    assert sum(manifest["totals"].values()) == 3 * 24 + 1
    # auto size: short sides 48, 120, 33, 300 -> median 84 -> the largest of 32/64/96/128 under it
    assert manifest["image_size"] == [64, 64, 3]
    for split in ("train", "validation", "test"):
        assert read_classes(tmp_path / "etl" / split) == CLASSES
        assert read_image_size(tmp_path / "etl" / split) == 64
        for entry in read_lst(tmp_path / "etl" / split / f"{split}.lst"):
            if not entry.path.endswith("broken.jpg"):
                with Image.open(tmp_path / "etl" / split / entry.path) as image:
                    assert image.size == (64, 64) and image.mode == "RGB"

    report = check.run_check({s: tmp_path / "etl" / s for s in ("train", "validation", "test")},
                             tmp_path / "clean", tmp_path / "quarantine", max_bad_fraction=0.1)
    assert [(f["file"].rsplit("/", 1)[-1], f["reason"]) for f in report["files"]] == [("broken.jpg", "not_an_image")]
    quarantined = list((tmp_path / "quarantine").rglob("broken.jpg"))
    assert len(quarantined) == 1

    train.train(tmp_path / "clean" / "train", tmp_path / "clean" / "validation", tmp_path / "model",
                log=lambda _: None, recipe=Recipe(epochs=8, batch_size=16))
    result = evaluate.run_evaluation(pack_model_dir(tmp_path / "model", tmp_path / "model.tar.gz"),
                                     tmp_path / "clean" / "test", tmp_path / "eval")
    metrics = result["multiclass_classification_metrics"]
    assert set(metrics["confusion_matrix"]) == set(CLASSES)
    assert metrics["accuracy"]["value"] > 1 / 3, "better than chance over three classes"
    assert json.loads((tmp_path / "model" / "classes.json").read_text()) == CLASSES


def test_presplit_folders_keep_their_splits(tmp_path):
    for split, count in (("train", 6), ("valid", 2), ("test", 3)):
        for name in ("a", "b"):
            for i in range(count):
                image = support.photo((i * 20, 90, 90), (40, 40), i, "PNG")
                support.write(tmp_path / "in" / split / name / f"{i}.png", image)
    manifest = etl.run_etl(str(tmp_path / "in"), tmp_path / "out", [], 0.2, 0)
    assert manifest["totals"] == {"train": 12, "validation": 4, "test": 6}


def test_serving_and_evaluation_read_a_file_the_same_way(trained_model, tmp_path):
    """Input size and normalisation come from one place: same file, same probabilities."""
    from scones.artifacts import unpack_model

    model = inference.model_fn(str(unpack_model(trained_model, tmp_path / "m")))
    photo = support.write(tmp_path / "big.jpg", support.photo((120, 80, 40), (300, 180), 3, "JPEG"))
    served = json.loads(inference.output_fn(inference.predict_fn(
        inference.input_fn(photo.read_bytes(), "image/jpeg"), model))[0])
    evaluated = inference.predict_files(model, [photo])[0]
    np.testing.assert_allclose(served, evaluated, atol=1e-6)


def test_unknown_class_filter_is_a_clear_error(folder, tmp_path):
    with pytest.raises(etl.EtlError, match=r"classes \['wolf'\] have no images"):
        etl.run_etl(str(folder), tmp_path, ["wolf"], 0.2, 0)


def test_a_changed_folder_registers_the_next_version(folder, workspace, tmp_path, capsys):
    import shutil

    from scones import cli

    data = shutil.copytree(folder, tmp_path / "photos")
    args = ["pipeline", "run", "--local", "--input", str(data), "-p", "Epochs=4", "-p", "AccuracyThreshold=0.0"]
    assert cli.main(args) == 0
    shutil.copy(data / "dog" / "photo 1.jpg", data / "dog" / "photo extra.jpg")
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "model package SconesModels/2" in out
    version = workspace.registry().get_version(workspace.model_group, 2)
    assert version.metrics["evaluation"]["classes"] == CLASSES

"""What evaluation.json carries for an approver beyond the metrics: mistakes, curves, the data."""

import base64
import io
import shutil

import numpy as np
from PIL import Image

from processing import check, evaluate
from tests import support

SPLITS = ("train", "validation", "test")


def test_misclassified_sample_shows_the_most_confident_mistakes_first(tmp_path):
    files = [support.write(tmp_path / f"{i}.png", support.random_png(seed=i, size=100)) for i in range(4)]
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.99, 0.01]])
    sample = evaluate.misclassified_sample(files, y_true, probabilities, ["cat", "dog"])
    assert [(s["file"], s["true"], s["predicted"], s["confidence"]) for s in sample] == [
        ("3.png", "dog", "cat", 0.99), ("1.png", "cat", "dog", 0.8)]
    header, data = sample[0]["thumbnail"].split(",", 1)
    assert header == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(data))) as thumb:
        assert max(thumb.size) <= evaluate.THUMBNAIL_SIDE and thumb.format == "PNG"
    assert evaluate.misclassified_sample(files, y_true, probabilities, ["cat", "dog"], limit=1)[0]["file"] == "3.png"


def _check(etl, out):
    return check.run_check({s: etl / s for s in SPLITS}, out / "clean", out / "quarantine", max_bad_fraction=0.5)


def test_the_report_names_the_data_the_model_was_trained_on(etl_copy, trained_model, tmp_path):
    (etl_copy / "train" / "bicycle" / "stray.png").write_bytes(support.random_png(seed=9))
    checked = _check(etl_copy, tmp_path / "a")
    report = evaluate.run_evaluation(trained_model, tmp_path / "a" / "clean" / "test", tmp_path / "eval",
                                     quarantine_dir=tmp_path / "a" / "quarantine")
    data = report["data"]
    assert data["dataset_digest"] == checked["dataset_digest"] and len(data["dataset_digest"]) == 64
    assert data["quarantined"] == 1 and data["reasons"] == {"unlisted": 1}
    assert data["quarantined_files"][0]["file"] == "train/bicycle/stray.png"
    assert data["splits"]["train"]["clean"] == data["splits"]["train"]["examined"] - 1
    history = report["training_diagnostics"]["history"]
    assert len(history) == report["training_diagnostics"]["epochs"] > 0
    assert {"epoch", "train_loss", "val_loss", "val_accuracy"} <= set(history[0])
    assert report["misclassified"]["count"] == sum(
        row[c] for actual, row in report["multiclass_classification_metrics"]["confusion_matrix"].items()
        for c in row if c != actual)


def test_the_dataset_digest_changes_with_one_image_and_not_with_the_folder(etl_copy, tmp_path):
    first = _check(etl_copy, tmp_path / "a")
    moved = shutil.copytree(etl_copy, tmp_path / "elsewhere")
    assert _check(moved, tmp_path / "b")["dataset_digest"] == first["dataset_digest"]
    image = next((moved / "train").rglob("*.png"))
    pixels = np.array(Image.open(image))
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(image)
    changed = _check(moved, tmp_path / "c")
    assert changed["dataset_digest"] != first["dataset_digest"]
    assert changed["splits"]["test"]["digest"] == first["splits"]["test"]["digest"]


def test_without_a_check_report_the_evaluation_still_runs(trained_model, tiny_etl, tmp_path):
    report = evaluate.run_evaluation(trained_model, tiny_etl / "test", tmp_path, quarantine_dir=tmp_path / "none")
    assert "data" not in report and "misclassified" in report

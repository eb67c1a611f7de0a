import json

import pytest
from PIL import Image

from processing import evaluate
from scones.artifacts import pack_model_dir
from training import train
from training.diagnostics import diagnose, loss_not_decreasing, overfitting
from training.recipe import Recipe


def _history(train_losses, val_losses):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_accuracy": 0.5}
            for i, (t, v) in enumerate(zip(train_losses, val_losses, strict=True))]


def test_overfitting_needs_the_pattern_for_n_epochs_in_a_row():
    assert overfitting(_history([1.0, 0.8, 0.6, 0.4, 0.3], [1.0, 0.9, 1.0, 1.1, 1.2]), patience=3)
    assert not overfitting(_history([1.0, 0.8, 0.6, 0.4, 0.3], [1.0, 0.9, 1.0, 0.95, 1.2]), patience=3)


def test_loss_not_decreasing_catches_divergence_and_plateaus():
    assert loss_not_decreasing(_history([0.69, 0.70, 0.69], [0.7, 0.7, 0.7]))
    assert loss_not_decreasing(_history([0.69, float("nan")], [0.7, 0.7]))
    assert not loss_not_decreasing(_history([0.69, 0.5], [0.7, 0.6]))


def test_a_bad_learning_rate_trips_the_warning_and_reaches_the_evaluation(tiny_etl, tmp_path):
    lines = []
    result = train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model", log=lines.append,
                         recipe=Recipe(epochs=3, learning_rate=1000.0, batch_size=32))
    assert result["diagnostics"]["loss_not_decreasing"] is True
    assert any(line.startswith("WARNING diagnostics: loss not decreasing") for line in lines)
    saved = json.loads((tmp_path / "model" / "diagnostics.json").read_text())
    assert saved["loss_not_decreasing"] and len(saved["history"]) == 3
    with Image.open(tmp_path / "model" / "training_curves.png") as image:
        assert image.width > 500
    report = evaluate.run_evaluation(pack_model_dir(tmp_path / "model", tmp_path / "model.tar.gz"),
                                     tiny_etl / "test", tmp_path / "eval")
    assert report["training_diagnostics"]["loss_not_decreasing"] is True


def test_a_good_run_has_no_warnings(trained_model, tiny_etl, tmp_path):
    report = evaluate.run_evaluation(trained_model, tiny_etl / "test", tmp_path)
    assert report["training_diagnostics"]["warnings"] == []


@pytest.mark.parametrize("patience", [1, 2])
def test_diagnose_reports_what_it_found(patience):
    report = diagnose(_history([1.0, 0.8, 0.6], [1.0, 1.1, 1.2]), patience)
    assert report["overfitting"] and report["warnings"][0].startswith("overfitting")

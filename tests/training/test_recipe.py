"""The default training recipe: early stopping with the best weights kept, the step budget, flips, calibration."""

import json
import shutil

import numpy as np
import pytest

from common.manifest import LstEntry, find_lst, read_lst, write_lst
from training import calibration
from training.train import Recipe, is_greyscale, resolve_flip, train


@pytest.fixture
def unlearnable_validation(tiny_etl, tmp_path):
    """The tiny set with validation labels inverted: the better the model learns, the worse validation gets."""
    root = shutil.copytree(tiny_etl, tmp_path / "etl")
    lst = find_lst(root / "validation")
    write_lst(lst, [LstEntry(e.index, 1 - e.label, e.path) for e in read_lst(lst)])
    return root


def test_train_early_stop_restores_the_best_epoch(unlearnable_validation, tmp_path):
    lines = []
    result = train(unlearnable_validation / "train", unlearnable_validation / "validation", tmp_path / "model",
                   log=lines.append,
                   recipe=Recipe(epochs=40, learning_rate=0.01, batch_size=32, patience=3, cooldown_epochs=0))
    training = result["training"]
    history = result["history"]
    assert training["stop_reason"].startswith("early stop: validation loss did not improve for 3 epochs")
    assert training["epochs_run"] == len(history) < 40
    assert training["epochs_run"] == training["best_epoch"] + 3
    best = min(history, key=lambda h: h["val_loss"])
    assert best["epoch"] == training["best_epoch"]
    assert any(line.startswith("stopped: early stop") for line in lines), "the step log says why training stopped"
    # the artifact holds the best epoch's weights, not the last epoch's
    from training.inference import LoadedModel
    from training.train import load_split

    images, labels, _ = load_split(unlearnable_validation / "validation")
    logits = LoadedModel(tmp_path / "model").logits(images)
    assert calibration.nll(logits, labels) == pytest.approx(best["val_loss"], abs=2e-3)
    assert calibration.nll(logits, labels) < history[-1]["val_loss"]


def test_train_early_stop_at_a_high_learning_rate_cools_down_from_the_best_weights(unlearnable_validation, tmp_path):
    lines = []
    result = train(unlearnable_validation / "train", unlearnable_validation / "validation", tmp_path / "model",
                   log=lines.append,
                   recipe=Recipe(epochs=40, learning_rate=0.01, batch_size=32, patience=3, cooldown_epochs=2))
    training = result["training"]
    assert training["stop_reason"].endswith(f"then a 2-epoch cool-down (best epoch {training['best_epoch']})")
    assert any(line.startswith("cool-down: 2 epochs from the best weights") for line in lines)
    stopped_at = next(int(line.split("of ")[1].split(")")[0]) for line in lines if line.startswith("stopped:"))
    assert training["epochs_run"] == stopped_at + 2


def test_train_stops_at_the_step_budget(tiny_etl, tmp_path):
    result = train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model",
                   log=lambda _: None, recipe=Recipe(epochs=50, batch_size=16, max_steps=7))
    assert result["training"]["steps"] == 7
    assert result["training"]["stop_reason"].startswith("step budget of 7 optimizer steps")


def test_train_writes_temperature_and_input_size_to_model_info(tiny_etl, tmp_path):
    result = train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "model",
                   log=lambda _: None, recipe=Recipe(epochs=3, batch_size=32))
    info = json.loads((tmp_path / "model" / "model_info.json").read_text())
    assert info["temperature"] == pytest.approx(result["training"]["temperature"])
    assert calibration.MIN_TEMPERATURE <= info["temperature"] <= calibration.MAX_TEMPERATURE
    assert info["input_size"] == 32
    assert info["training"]["stop_reason"] == result["training"]["stop_reason"]


def test_fit_temperature_softens_an_over_confident_model():
    """Logits of +-8 that are right only 70 % of the time: the fitted temperature is well above 1."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    predicted = np.where(rng.random(2000) < 0.7, labels, 1 - labels)
    logits = np.where(np.arange(2)[None, :] == predicted[:, None], 8.0, -8.0)
    temperature = calibration.fit_temperature(logits, labels)
    assert temperature > 4
    # at the optimum the confidence matches the accuracy: softmax(16 / T) ~ the share right (~0.7)
    accuracy = float(np.mean(predicted == labels))
    assert calibration.softmax(logits, temperature).max(axis=1).mean() == pytest.approx(accuracy, abs=0.002)
    assert calibration.nll(logits, labels, temperature) < calibration.nll(logits, labels)
    before = calibration.expected_calibration_error(calibration.softmax(logits), labels)
    after = calibration.expected_calibration_error(calibration.softmax(logits, temperature), labels)
    assert before > 0.25 and after < 0.02


def test_fit_temperature_sharpens_an_under_confident_model_within_bounds():
    labels = np.arange(200) % 2
    logits = np.where(np.arange(2)[None, :] == labels[:, None], 0.5, -0.5)  # always right, 73 % confident
    assert calibration.fit_temperature(logits, labels) == pytest.approx(calibration.MIN_TEMPERATURE, rel=1e-3)


def test_expected_calibration_error_by_hand():
    # 4 images in the 0.8-0.867 bin, 3 right: |0.75 - 0.8| * 4/5; 1 image at 1.0, right: 0
    probabilities = np.array([[0.8, 0.2]] * 4 + [[0.0, 1.0]])
    labels = np.array([0, 0, 0, 1, 1])
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.05 * 4 / 5)
    at = calibration.coverage_at(probabilities, labels, 0.93)
    assert at == {"threshold": 0.93, "coverage": 0.2, "passed": 1, "accuracy": 1.0}


def test_flip_auto_is_off_for_greyscale_and_on_for_colour():
    from common.imaging import normalize

    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (8, 32, 32, 1), dtype=np.uint8), 3, axis=3)
    colour = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    assert is_greyscale(normalize(grey)) and not is_greyscale(normalize(colour))
    assert resolve_flip("auto", normalize(grey))[0] is False
    assert resolve_flip("auto", normalize(colour))[0] is True
    assert resolve_flip("false", normalize(colour))[0] is False
    assert resolve_flip("true", normalize(grey))[0] is True


def test_evaluation_reports_calibration_and_draws_the_reliability_diagram(trained_model, tiny_etl, tmp_path):
    from processing.evaluate import RELIABILITY_FILE, run_evaluation

    report = run_evaluation(trained_model, tiny_etl / "test", tmp_path, threshold=0.6)
    cal = report["calibration"]
    assert 0 <= cal["expected_calibration_error"] <= 1 and cal["bins"] == 15 and len(cal["reliability"]) == 15
    assert sum(row["count"] for row in cal["reliability"]) == report["evaluation"]["test_images"]
    assert cal["at_threshold"]["threshold"] == 0.6
    assert (tmp_path / RELIABILITY_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["calibration"]["temperature"] == cal["temperature"]


def test_the_epoch_cap_and_step_budget_scale_with_the_classes_unless_given():
    """Up to four classes what the two- and four-class sets were tuned with; beyond, per class."""
    auto = Recipe()
    assert [(r.epochs, r.max_steps, r.patience) for r in map(auto.for_classes, (2, 4, 5, 10, 133))] == [
        (60, 1200, 10), (60, 1200, 10), (60, 1500, 10), (120, 3000, 15), (400, 39900, 50)]
    given = Recipe(epochs=20, max_steps=500, patience=3)
    resolved = given.for_classes(10)
    assert (resolved.epochs, resolved.max_steps, resolved.patience) == (20, 500, 3)
    assert auto.plan(10) == "epoch cap 120 (auto: 10 classes), step budget 3000 (auto), patience 15 (auto)"


def test_a_ten_class_run_is_not_ended_by_the_two_class_cap(tmp_path):
    """Ten classes, a few images each: the log names the scaled plan and the cap that applies."""
    from common.imaging import encode_png
    from common.manifest import write_classes

    rng = np.random.default_rng(0)
    for split in ("train", "validation"):
        folder = tmp_path / split
        entries = []
        for label in range(10):
            (folder / f"c{label}").mkdir(parents=True)
            for i in range(3):
                pixels = np.full((32, 32, 3), 20 * label, np.uint8) + rng.integers(0, 10, (32, 32, 3), dtype=np.uint8)
                (folder / f"c{label}" / f"{i}.png").write_bytes(encode_png(pixels))
                entries.append(LstEntry(len(entries), label, f"c{label}/{i}.png"))
        write_lst(folder / f"{split}.lst", entries)
        write_classes(folder, [f"c{label}" for label in range(10)])
    lines = []
    train(tmp_path / "train", tmp_path / "validation", tmp_path / "model", log=lines.append,
          recipe=Recipe(patience=1, cooldown_epochs=0, batch_size=32))
    assert any("epoch cap 120 (auto: 10 classes), step budget 3000 (auto), patience 1 (given)" in line
               for line in lines)

import json
import tarfile

import numpy as np
import pytest

from processing import evaluate
from scones.artifacts import unpack_model
from training import train
from training.recipe import Recipe


def test_training_logs_metric_lines_a_sagemaker_regex_reads(tiny_etl, tmp_path):
    import re

    lines = []
    train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / "m",
                log=lines.append, recipe=Recipe(epochs=2, batch_size=32))
    epoch_lines = [line for line in lines if line.startswith("epoch=")]
    assert len(epoch_lines) == 2
    assert any("val_loss=" in line for line in lines if not line.startswith("epoch=")), \
        "the log's summary lines name val_loss too: the regexes must not count them"
    for definition in train.METRIC_DEFINITIONS:
        value = re.search(definition["Regex"], epoch_lines[-1]).group(1)
        assert 0.0 <= float(value) < 10
        # SageMaker searches each line of the real log: one data point per epoch, no more
        assert sum(re.search(definition["Regex"], line) is not None for line in lines) == 2, definition["Name"]


def test_artifact_serves_without_training_code(trained_model, tmp_path):
    with tarfile.open(trained_model) as tar:
        names = set(tar.getnames())
    assert {"model.onnx", "model.pt", "classes.json", "model_info.json", "code/inference.py",
            "code/training/inference.py", "code/common/imaging.py"} <= names


def test_training_is_deterministic_with_a_seed(tiny_etl, tmp_path):
    runs = [train.train(tiny_etl / "train", tiny_etl / "validation", tmp_path / f"m{i}", log=lambda _: None,
                        recipe=Recipe(epochs=2, batch_size=32, seed=5)) for i in range(2)]
    assert runs[0]["history"][-1]["train_loss"] == runs[1]["history"][-1]["train_loss"]
    assert (tmp_path / "m0" / "model.onnx").read_bytes() == (tmp_path / "m1" / "model.onnx").read_bytes()


def test_evaluation_beats_chance_and_has_the_sagemaker_shape(trained_model, tiny_etl, tmp_path):
    report = evaluate.run_evaluation(trained_model, tiny_etl / "test", tmp_path)
    on_disk = json.loads((tmp_path / "evaluation.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    metrics = on_disk["multiclass_classification_metrics"]
    accuracy = evaluate.read_json_path(on_disk, evaluate.ACCURACY_JSON_PATH)
    assert accuracy == metrics["accuracy"]["value"] >= 0.8, "well above the 0.5 of chance"
    assert 0 <= metrics["accuracy"]["standard_deviation"] < 0.2
    for name in ("weighted_precision", "weighted_recall", "weighted_f1", "weighted_f0_5", "weighted_f2"):
        assert 0.0 <= metrics[name]["value"] <= 1.0
    matrix = metrics["confusion_matrix"]
    assert set(matrix) == {"bicycle", "motorcycle"}
    assert sum(sum(row.values()) for row in matrix.values()) == 40
    correct = matrix["bicycle"]["bicycle"] + matrix["motorcycle"]["motorcycle"]
    assert correct / 40 == pytest.approx(accuracy)
    assert set(metrics["per_class"]["bicycle"]) == {"precision", "recall", "f1", "support"}


def test_compute_metrics_on_known_predictions():
    report = evaluate.compute_metrics(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), ["a", "b"])
    metrics = report["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == 0.75
    assert metrics["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                         "f1": pytest.approx(0.8), "support": 3}
    assert metrics["per_class"]["b"]["precision"] == 0.5
    assert metrics["accuracy_best_constant_classifier"]["value"] == 0.75
    assert metrics["confusion_matrix"] == {"a": {"a": 2, "b": 1}, "b": {"a": 0, "b": 1}}


def test_onnx_state_dict_and_torchscript_backends_agree(trained_model, tmp_path, monkeypatch):
    from training.inference import LoadedModel

    folder = unpack_model(trained_model, tmp_path / "m")
    batch = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    onnx = LoadedModel(folder)
    monkeypatch.setenv("SCONES_INFERENCE_BACKEND", "state_dict")
    weights = LoadedModel(folder)
    monkeypatch.setenv("SCONES_INFERENCE_BACKEND", "torchscript")
    script = LoadedModel(folder)
    assert (onnx.backend, weights.backend, script.backend) == ("onnxruntime", "state_dict", "torchscript")
    np.testing.assert_allclose(onnx.predict(batch), script.predict(batch), atol=1e-5)
    np.testing.assert_allclose(onnx.predict(batch), weights.predict(batch), atol=1e-5)


def test_the_weights_are_plain_tensors_any_torch_reads(trained_model, tmp_path):
    """No pickled classes or code in weights.pt: torch.load(weights_only=True), the only safe load, reads it."""
    import pickletools
    import zipfile

    folder = unpack_model(trained_model, tmp_path / "m")
    with zipfile.ZipFile(folder / "weights.pt") as archive:
        [pickled] = [n for n in archive.namelist() if n.endswith("data.pkl")]
        globals_used = {arg for op, arg, _ in pickletools.genops(archive.read(pickled))
                        if op.name in ("GLOBAL", "STACK_GLOBAL") and arg}
    assert "torch._utils _rebuild_tensor_v2" in globals_used
    assert globals_used <= {"torch._utils _rebuild_tensor_v2", "collections OrderedDict", "torch FloatStorage",
                            "torch LongStorage"}, globals_used


def test_evaluation_refuses_a_broken_artifact(tmp_path, tiny_etl, capsys):
    (tmp_path / "model.tar.gz").write_bytes(b"not a tarball")
    code = evaluate.main(["--model", str(tmp_path / "model.tar.gz"), "--test", str(tiny_etl / "test"),
                          "--output", str(tmp_path / "out")])
    assert code == 1 and "not a readable model.tar.gz" in capsys.readouterr().err


def test_train_entry_point_reads_sagemaker_environment(tiny_etl, tmp_path, monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tiny_etl / "train"))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(tiny_etl / "validation"))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    assert train.main(["--epochs", "1", "--learning-rate", "0.02", "--batch-size", "32", "--unused", "1"]) == 0
    assert (tmp_path / "model" / "model.onnx").exists()
    assert len(json.loads((tmp_path / "output" / "history.json").read_text())) == 1

"""Evaluation step: score ``model.tar.gz`` on the test split, write ``evaluation.json``.

The report follows SageMaker's model-quality shape for multiclass models
(``multiclass_classification_metrics.<metric>.value``), so the pipeline's
``JsonGet`` and the registry's ``ModelMetrics`` read it as SageMaker would.
Images go through the serving handler (``training.inference``), so the
accuracy measured here is the accuracy of what the endpoint will serve.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.defaults import ACCURACY_JSON_PATH, CONFIDENCE_THRESHOLD, EVALUATION_FILE, METRICS_KEY
from common.manifest import ManifestError, find_lst, read_classes, read_lst
from common.metrics import accuracy_of

DEFAULT_MODEL = "/opt/ml/processing/model"
DEFAULT_TEST = "/opt/ml/processing/test"
DEFAULT_OUTPUT = "/opt/ml/processing/evaluation"
DEFAULT_QUARANTINE = "/opt/ml/processing/quarantine"
RELIABILITY_FILE = "reliability.png"
BOOTSTRAP_ROUNDS = 200
#: Misclassified test images kept in evaluation.json as thumbnails, for the approver's page.
MISCLASSIFIED_SAMPLE = 8
THUMBNAIL_SIDE = 64
QUARANTINED_LISTED = 20


class EvaluationError(ValueError):
    """The model or the test set cannot be evaluated; the message says why."""


def extract_model(source: Path, into: Path) -> Path:
    """Accept a ``model.tar.gz``, a folder holding one, or an unpacked model folder."""
    source = Path(source)
    if source.is_dir():
        if (source / "classes.json").exists():
            return source
        tarballs = sorted(source.glob("*.tar.gz"))
        if not tarballs:
            raise EvaluationError(f"{source}: no model.tar.gz and no classes.json")
        source = tarballs[0]
    try:
        with tarfile.open(source, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise EvaluationError(f"{source}: not a readable model.tar.gz ({exc})") from exc
    return into


def _per_class(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    true_pos = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0).astype(float), matrix.sum(axis=1).astype(float)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(true_pos), where=denom > 0)
    return precision, recall, f1


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    b2 = beta * beta
    denom = b2 * precision + recall
    return np.divide((1 + b2) * precision * recall, denom, out=np.zeros_like(precision), where=denom > 0)


def _scalar_metrics(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> dict[str, float]:
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    precision, recall, _ = _per_class(matrix)
    weights = matrix.sum(axis=1) / max(matrix.sum(), 1)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "weighted_precision": float(np.sum(weights * precision)),
        "weighted_recall": float(np.sum(weights * recall)),
        "weighted_f0_5": float(np.sum(weights * _f_beta(precision, recall, 0.5))),
        "weighted_f1": float(np.sum(weights * _f_beta(precision, recall, 1.0))),
        "weighted_f2": float(np.sum(weights * _f_beta(precision, recall, 2.0))),
    }


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], seed: int = 0) -> dict:
    """SageMaker-shaped multiclass metrics; ``standard_deviation`` comes from a seeded bootstrap."""
    n = len(classes)
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    point = _scalar_metrics(y_true, y_pred, n)
    rng = np.random.default_rng(seed)
    samples = [
        _scalar_metrics(y_true[rows], y_pred[rows], n)
        for rows in (rng.integers(0, len(y_true), len(y_true)) for _ in range(BOOTSTRAP_ROUNDS))
    ]
    metrics = {name: {"value": value, "standard_deviation": float(np.std([s[name] for s in samples]))}
               for name, value in point.items()}
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    precision, recall, f1 = _per_class(matrix)
    majority = int(np.bincount(y_true, minlength=n).argmax())
    metrics["accuracy_best_constant_classifier"] = {
        "value": float(np.mean(y_true == majority)), "standard_deviation": 0.0}
    metrics["confusion_matrix"] = {
        actual: {predicted: int(matrix[i, j]) for j, predicted in enumerate(classes)}
        for i, actual in enumerate(classes)
    }
    metrics["per_class"] = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(matrix[i].sum())}
        for i, name in enumerate(classes)
    }
    return {METRICS_KEY: metrics}


def calibration_report(probabilities: np.ndarray, y_true: np.ndarray, temperature: float,
                       threshold: float) -> dict:
    """ECE over 15 bins, the reliability table, and what the workflow's threshold passes and how well."""
    from training.calibration import ECE_BINS, coverage_at, expected_calibration_error, reliability

    return {"expected_calibration_error": expected_calibration_error(probabilities, y_true), "bins": ECE_BINS,
            "temperature": temperature, "at_threshold": coverage_at(probabilities, y_true, threshold),
            "reliability": reliability(probabilities, y_true)}


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE) -> str:
    """A small PNG of an image as a data: URI (the page needs no file store to show it)."""
    import base64
    import io

    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB")
        small.thumbnail((side, side))
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def misclassified_sample(files: list[Path], y_true: np.ndarray, probabilities: np.ndarray, classes: list[str],
                         limit: int = MISCLASSIFIED_SAMPLE) -> list[dict]:
    """The most confidently wrong test images first: the mistakes an approver should see."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:limit]
    return [{"file": files[i].name, "true": classes[int(y_true[i])], "predicted": classes[int(predicted[i])],
             "confidence": round(float(probabilities[i, predicted[i]]), 5), "thumbnail": thumbnail(files[i])}
            for i in order]


def data_report(quarantine_dir: Path | None) -> dict | None:
    """What the model was trained on, from the image check's report: digest, counts, quarantined files."""
    path = Path(quarantine_dir) / "report.json" if quarantine_dir else None
    if path is None or not path.exists():
        return None
    try:
        check = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {"error": f"{path.name} is not JSON"}
    splits = check.get("splits", {})
    return {"dataset_digest": check.get("dataset_digest"), "splits": splits,
            # what people corrected in the review queue and this model trained on (the train split only)
            "reviewed_images": sum(s.get("reviewed", 0) for s in splits.values() if isinstance(s, dict)),
            "examined": check.get("examined"), "quarantined": check.get("bad"), "reasons": check.get("reasons", {}),
            "quarantined_files": check.get("files", [])[:QUARANTINED_LISTED]}


def run_evaluation(model_source: Path, test_dir: Path, output_dir: Path, threshold: float | None = None,
                   quarantine_dir: Path | None = None) -> dict:
    """Score the model on the test split; write evaluation.json and the reliability diagram PNG.

    Beside the metrics, the document carries what an approver decides from: the training
    curves, a sample of misclassified images, and the data the model saw (``quarantine_dir``
    holds the image check's report).
    """
    from training.calibration import WORKFLOW_THRESHOLD, plot_reliability
    from training.inference import InferenceError, LoadedModel, predict_files

    threshold = WORKFLOW_THRESHOLD if threshold is None else threshold

    test_dir = Path(test_dir)
    try:
        classes = read_classes(test_dir)
        entries = read_lst(find_lst(test_dir))
    except ManifestError as exc:
        raise EvaluationError(str(exc)) from exc
    if not entries:
        raise EvaluationError(f"{test_dir}: the test manifest lists no images")
    with tempfile.TemporaryDirectory() as scratch:
        model = LoadedModel(extract_model(Path(model_source), Path(scratch)))
        if model.classes != classes:
            raise EvaluationError(f"model classes {model.classes} differ from test classes {classes}")
        files = [test_dir / e.path for e in entries]
        try:
            probabilities = predict_files(model, files)
        except InferenceError as exc:
            raise EvaluationError(exc.message) from exc
        backend, temperature, input_size = model.backend, model.temperature, model.input_size
        diagnostics_path = model.model_dir / "diagnostics.json"
        diagnostics = json.loads(diagnostics_path.read_text()) if diagnostics_path.exists() else None
    y_true = np.array([e.label for e in entries])
    report = compute_metrics(y_true, probabilities.argmax(axis=1), classes)
    predicted = probabilities.argmax(axis=1)
    report["evaluation"] = {
        "test_images": len(entries), "classes": classes, "backend": backend, "input_size": input_size,
        "mean_top_confidence": float(probabilities.max(axis=1).mean()),
        # the reference distributions a drift check compares live traffic against
        "predicted_counts": {name: int((predicted == i).sum()) for i, name in enumerate(classes)},
        "top_confidences": [round(float(v), 5) for v in probabilities.max(axis=1)],
    }
    report["calibration"] = calibration_report(probabilities, y_true, temperature, threshold)
    if diagnostics is not None:
        report["training_diagnostics"] = {k: diagnostics.get(k) for k in ("overfitting", "loss_not_decreasing",
                                                                          "warnings", "epochs", "history")}
    report["misclassified"] = {"count": int((predicted != y_true).sum()),
                               "sample": misclassified_sample(files, y_true, probabilities, classes)}
    data = data_report(quarantine_dir)
    if data is not None:
        report["data"] = data
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    calibration = report["calibration"]
    plot_reliability(calibration["reliability"], output_dir / RELIABILITY_FILE,
                     f"Reliability on {len(entries)} test images (ECE "
                     f"{calibration['expected_calibration_error']:.3f}, T={temperature:.2f})")
    accuracy = accuracy_of(report)
    at = calibration["at_threshold"]
    passed = f"{at['accuracy']:.4f}" if at["accuracy"] is not None else "-"
    print(f"evaluate: accuracy={accuracy:.4f} on {len(entries)} test images ({backend}); "
          f"ECE={calibration['expected_calibration_error']:.4f}; at {threshold:.2f}: "
          f"coverage={at['coverage']:.4f}, accuracy={passed}", flush=True)
    return report


def read_json_path(document: dict, path: str = ACCURACY_JSON_PATH):
    """Follow a dotted key path, as the pipeline's ``JsonGet`` does."""
    value = document
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"{path}: no key {key!r}")
        value = value[key]
    return value


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=add_help, prog="evaluate.py",
                                     description="Evaluate model.tar.gz on the test split; writes evaluation.json.")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="model.tar.gz, or a folder holding it (default: %(default)s)")
    parser.add_argument("--test", default=DEFAULT_TEST,
                        help="test split folder: test.lst + images (default: %(default)s)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"where {EVALUATION_FILE} and {RELIABILITY_FILE} are written")
    parser.add_argument("--threshold", type=float, default=None,
                        help="confidence threshold for coverage and accuracy above it "
                             f"(default: the workflow's, {CONFIDENCE_THRESHOLD})")
    parser.add_argument("--quarantine", default=DEFAULT_QUARANTINE,
                        help="the image check's quarantine folder, whose report.json says what the model was "
                             "trained on (default: %(default)s; skipped when absent)")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        run_evaluation(Path(args.model), Path(args.test), Path(args.output), args.threshold,
                       Path(args.quarantine) if args.quarantine else None)
    except EvaluationError as exc:
        print(f"evaluate failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

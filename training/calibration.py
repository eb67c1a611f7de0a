"""Calibrated confidence: temperature scaling and the expected calibration error.

The inference workflow sends an image to human review when its top probability
is below a threshold (0.93 by default); that only means something if a
confidence of 0.93 is right about 93 % of the time. Temperature scaling (Guo et
al., "On Calibration of Modern Neural Networks", 2017) divides the logits by one
scalar ``T`` fitted on the validation split by minimising the negative
log-likelihood: the argmax, hence accuracy, is unchanged. ``T`` is stored in
``model_info.json`` and applied by :class:`training.inference.LoadedModel`, the
one place that turns logits into probabilities (endpoint, evaluation, SageMaker's
serving handler).

numpy only: the step containers and the model artifact's ``code/`` need nothing more.
"""

from __future__ import annotations

import math

import numpy as np

from common.defaults import CONFIDENCE_THRESHOLD

#: The inference workflow's default confidence threshold; evaluation reports coverage at it.
WORKFLOW_THRESHOLD = CONFIDENCE_THRESHOLD  # the workflow's, defined in common.defaults
#: Bins of the expected calibration error (equal width over [0, 1]), as in Guo et al.
ECE_BINS = 15
#: The temperature is searched in [1/4, 20]. A validation set with no error drives the NLL-optimal T to 0
#: (infinite confidence); a few hundred images cannot support sharpening logits more than 4-fold.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 20.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``, computed stably in float64."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / T)``."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 60) -> float:
    """The ``T`` minimising validation NLL (golden-section search on log T; NLL is unimodal in T).

    Returns 1.0 for an empty set. A model that is right on every validation image with a
    margin is sharpened towards :data:`MIN_TEMPERATURE`, never past it.
    """
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, labels, math.exp(b))
    return float(math.exp((low + high) / 2))


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: count, mean confidence and accuracy of the top prediction."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    correct = predicted == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes to the first bin
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for i in range(bins):
        member = index == i
        count = int(member.sum())
        rows.append({"low": float(edges[i]), "high": float(edges[i + 1]), "count": count,
                     "confidence": float(confidence[member].mean()) if count else None,
                     "accuracy": float(correct[member].mean()) if count else None})
    return rows


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over equal-width bins."""
    rows = reliability(probabilities, labels, bins)
    total = sum(r["count"] for r in rows)
    if not total:
        return 0.0
    return float(sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]) / total)


def coverage_at(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """What the workflow's threshold does on a test set: the share passed and its accuracy."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confident = probabilities.max(axis=1) >= threshold
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    count = int(confident.sum())
    return {"threshold": float(threshold), "coverage": float(confident.mean()) if len(confident) else 0.0,
            "passed": count, "accuracy": float(correct[confident].mean()) if count else None}


def plot_reliability(rows: list[dict], path, title: str = "Reliability diagram"):
    """Accuracy against confidence per bin, with the diagonal of perfect calibration; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    width = rows[0]["high"] - rows[0]["low"]
    used = [r for r in rows if r["count"]]
    top.bar([r["low"] for r in used], [r["accuracy"] for r in used], width=width, align="edge",
            color="#1f77b4", edgecolor="white", label="accuracy in bin")
    top.plot([0, 1], [0, 1], "--", color="#777", label="perfect calibration")
    top.plot([r["confidence"] for r in used], [r["accuracy"] for r in used], "o", color="#d62728",
             label="mean confidence")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1.02)
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar([r["low"] for r in rows], [r["count"] for r in rows], width=width, align="edge", color="#999")
    bottom.set_yscale("symlog")
    bottom.set_xlabel("top-class confidence")
    bottom.set_ylabel("images")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""The monitoring report: what live traffic looks like, and whether it drifted from evaluation.

Drift tests, both at significance 0.05:

- **class mix**: Pearson's chi-square goodness-of-fit of the live predicted-class
  counts against the proportions the model predicted on the evaluation set;
- **confidence**: two-sample Kolmogorov-Smirnov test of live top-class
  confidences against the evaluation set's.

A small sample says so instead of claiming a verdict (fewer than 20 predictions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scones.monitor.capture_reader import CaptureScan

ALPHA = 0.05
MIN_SAMPLE = 20


@dataclass(frozen=True)
class DriftTest:
    name: str
    test: str
    statistic: float | None
    p_value: float | None
    drifted: bool | None
    note: str


def class_mix_drift(live_counts: np.ndarray, reference_counts: np.ndarray) -> DriftTest:
    from scipy import stats

    name, test = "class mix", "chi-square goodness of fit"
    if live_counts.sum() < MIN_SAMPLE or reference_counts.sum() == 0:
        return DriftTest(name, test, None, None, None, f"too few predictions (< {MIN_SAMPLE}) for a verdict")
    expected = reference_counts / reference_counts.sum() * live_counts.sum()
    keep = expected > 0
    if keep.sum() < 2:
        return DriftTest(name, test, None, None, None, "the reference predicts a single class")
    observed = live_counts[keep]
    statistic, p_value = stats.chisquare(observed, expected[keep] * observed.sum() / expected[keep].sum())
    drifted = bool(p_value < ALPHA)
    return DriftTest(name, test, float(statistic), float(p_value), drifted,
                     "live class mix differs from evaluation" if drifted else "consistent with evaluation")


def confidence_drift(live: np.ndarray, reference: np.ndarray) -> DriftTest:
    from scipy import stats

    name, test = "top-class confidence", "two-sample Kolmogorov-Smirnov"
    if len(live) < MIN_SAMPLE or len(reference) == 0:
        return DriftTest(name, test, None, None, None, f"too few predictions (< {MIN_SAMPLE}) or no reference")
    result = stats.ks_2samp(live, reference)
    drifted = bool(result.pvalue < ALPHA)
    return DriftTest(name, test, float(result.statistic), float(result.pvalue), drifted,
                     "live confidence distribution differs from evaluation" if drifted
                     else "consistent with evaluation")


def build_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None) -> dict:
    confidences = np.array([p.confidence for p in scan.predictions])
    tops = np.array([p.top for p in scan.predictions], dtype=int)
    counts = np.bincount(tops, minlength=len(classes))[: len(classes)] if len(tops) else np.zeros(len(classes))
    below = float((confidences < threshold).mean()) if len(confidences) else 0.0
    tests = []
    if evaluation:
        info = evaluation.get("evaluation", {})
        reference = np.array([info.get("predicted_counts", {}).get(c, 0) for c in classes], dtype=float)
        tests = [class_mix_drift(counts.astype(float), reference),
                 confidence_drift(confidences, np.array(info.get("top_confidences", []), dtype=float))]
    return {
        "files": scan.files, "lines": scan.lines, "corrupt_lines": scan.corrupt,
        "corrupt_examples": scan.corrupt_examples, "predictions": len(scan.predictions),
        "threshold": threshold, "below_threshold": int((confidences < threshold).sum()),
        "share_below_threshold": below,
        "predicted_counts": {c: int(n) for c, n in zip(classes, counts, strict=True)},
        "mean_confidence": float(confidences.mean()) if len(confidences) else None,
        "first": scan.predictions[0].time.isoformat() if scan.predictions else None,
        "last": scan.predictions[-1].time.isoformat() if scan.predictions else None,
        "model_versions": sorted({p.model_version for p in scan.predictions if p.model_version}),
        "drift": [asdict(t) for t in tests],
    }


def plot_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None,
                path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    confidences = np.array([p.confidence for p in scan.predictions])
    tops = np.array([p.top for p in scan.predictions], dtype=int)
    times = [p.time for p in scan.predictions]
    figure, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    figure.suptitle(f"Endpoint traffic: {len(scan.predictions)} predictions, {scan.corrupt} corrupt capture lines")

    ax = axes[0][0]
    for index, name in enumerate(classes):
        mask = tops == index
        ax.scatter([t for t, m in zip(times, mask, strict=True) if m], confidences[mask], s=10, label=name)
    ax.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
    ax.set(title="Top-class confidence over time", ylabel="confidence", xlabel="time (UTC)", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize="small")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelrotation=30)

    ax = axes[0][1]
    bins = np.linspace(0, 1, 21)
    for index, name in enumerate(classes):
        ax.hist(confidences[tops == index], bins=bins, alpha=0.6, label=name)
    ax.axvline(threshold, color="red", linestyle="--")
    ax.set(title="Confidence per predicted class", xlabel="top-class confidence", ylabel="predictions")
    ax.legend(fontsize="small")

    ax = axes[1][0]
    live = np.bincount(tops, minlength=len(classes))[: len(classes)] if len(tops) else np.zeros(len(classes))
    x = np.arange(len(classes))
    ax.bar(x - 0.2, live / max(live.sum(), 1), width=0.4, label="live")
    if evaluation:
        reference = np.array([evaluation.get("evaluation", {}).get("predicted_counts", {}).get(c, 0)
                              for c in classes], dtype=float)
        ax.bar(x + 0.2, reference / max(reference.sum(), 1), width=0.4, label="evaluation set")
    ax.set_xticks(x, classes)
    ax.set(title="Predicted class mix", ylabel="share")
    ax.legend(fontsize="small")

    ax = axes[1][1]
    if len(confidences):
        ax.step(np.sort(confidences), np.linspace(0, 1, len(confidences)), label="live")
    reference_conf = (evaluation or {}).get("evaluation", {}).get("top_confidences", [])
    if reference_conf:
        ax.step(np.sort(reference_conf), np.linspace(0, 1, len(reference_conf)), label="evaluation set")
    ax.axvline(threshold, color="red", linestyle="--")
    ax.set(title="Confidence distribution (ECDF)", xlabel="top-class confidence", ylabel="cumulative share")
    ax.legend(fontsize="small")

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None,
                 output: Path) -> dict:
    report = build_report(scan, classes, threshold, evaluation)
    output.mkdir(parents=True, exist_ok=True)
    report["plot"] = str(plot_report(scan, classes, threshold, evaluation, output / "report.png"))
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report

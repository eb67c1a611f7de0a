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
import pandas as pd

from scones.monitor.capture_reader import CaptureScan
from scones.monitor.frames import UNKNOWN_VERSION, class_counts, per_hour, predictions_frame, version_order

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


def drift_tests(frame: pd.DataFrame, classes: list[str], evaluation: dict | None) -> list[DriftTest]:
    """Both drift tests of these predictions against one evaluation (none without an evaluation)."""
    if not evaluation:
        return []
    info = evaluation.get("evaluation", {})
    reference = np.array([info.get("predicted_counts", {}).get(c, 0) for c in classes], dtype=float)
    return [class_mix_drift(class_counts(frame, classes).to_numpy(dtype=float), reference),
            confidence_drift(frame["confidence"].to_numpy(), np.array(info.get("top_confidences", []), dtype=float))]


def _section(frame: pd.DataFrame, classes: list[str], threshold: float, evaluation: dict | None) -> dict:
    """What one slice of traffic looks like, and its drift against the evaluation it should resemble."""
    below = frame["confidence"] < threshold
    tests = drift_tests(frame, classes, evaluation)
    return {
        "predictions": len(frame), "below_threshold": int(below.sum()),
        "share_below_threshold": float(below.mean()) if len(frame) else 0.0,
        "predicted_counts": {c: int(n) for c, n in class_counts(frame, classes).items()},
        "mean_confidence": float(frame["confidence"].mean()) if len(frame) else None,
        "drift": [asdict(t) for t in tests],
        "verdict": verdict(tests),
    }


def verdict(tests: list[DriftTest]) -> str:
    """"drift" when any test fires, "ok" when all have a verdict and none fires, else "n/a"."""
    if any(t.drifted for t in tests):
        return "drift"
    return "ok" if tests and all(t.drifted is False for t in tests) else "n/a"


def build_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None,
                 evaluations: dict[str, dict] | None = None) -> dict:
    """The whole window against ``evaluation``, and each model version against its own evaluation.

    ``evaluations`` maps a version (as capture names it, "3") to that version's evaluation
    document; a version missing from it is compared with ``evaluation``. Traffic of two
    versions mixed together would hide a drift in one of them, so each gets its own verdict.
    """
    frame = predictions_frame(scan, classes)
    overall = _section(frame, classes, threshold, evaluation)
    versions = {version: _section(frame[frame["version"] == version], classes, threshold,
                                  (evaluations or {}).get(version, evaluation))
                for version in version_order(frame)}
    hours = per_hour(frame, threshold)
    return {
        "files": scan.files, "lines": scan.lines, "corrupt_lines": scan.corrupt,
        "corrupt_examples": scan.corrupt_examples, "threshold": threshold, **overall,
        "first": frame["time"].min().isoformat() if len(frame) else None,
        "last": frame["time"].max().isoformat() if len(frame) else None,
        "model_versions": [v for v in versions if v != UNKNOWN_VERSION],
        "by_version": versions,
        "by_hour": [{**row, "hour": row["hour"].isoformat(), "below_threshold": int(row["below_threshold"]),
                     "predictions": int(row["predictions"])} for row in hours.to_dict("records")],
    }


#: Confidences are drawn on a logit axis clipped here: 0.99, 0.999 and 0.9999 get as much room as 0.5-0.9.
LOGIT_CLIP = 1e-4


LOGIT_TICKS = (0.5, 0.9, 0.99, 0.999, 0.9999)


def _logit_axis(axis, set_scale, set_limits) -> None:
    """A logit scale from 0.3 to 1 - LOGIT_CLIP with plain ticks (0.9, 0.99, ...), not "1-10^-2"."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    set_scale("logit")
    set_limits(0.3, 1 - LOGIT_CLIP / 2)
    axis.set_major_locator(FixedLocator(LOGIT_TICKS))
    axis.set_major_formatter(FixedFormatter([f"{t:g}" for t in LOGIT_TICKS]))
    axis.set_minor_locator(NullLocator())


def plot_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None,
                path: Path) -> Path:
    """Four panels, one colour per model version, confidence on a logit axis (the spread near 1.0 shows)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    frame = predictions_frame(scan, classes)
    frame["clipped"] = frame["confidence"].clip(LOGIT_CLIP, 1 - LOGIT_CLIP)
    versions = version_order(frame)
    figure, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    figure.suptitle(f"Endpoint traffic: {len(frame)} predictions from {len(versions)} model version(s), "
                    f"{scan.corrupt} corrupt capture lines")

    def name(version: str) -> str:
        return f"v{version}" if version != UNKNOWN_VERSION else "version unknown"

    ax = axes[0][0]
    for version in versions:
        part = frame[frame["version"] == version]
        ax.scatter(part["time"], part["clipped"], s=10, label=name(version))
    ax.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
    _logit_axis(ax.yaxis, ax.set_yscale, ax.set_ylim)
    ax.set(title="Top-class confidence over time (logit axis)", ylabel="confidence", xlabel="time (UTC)")
    ax.legend(loc="lower left", fontsize="small")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelrotation=30)

    ax = axes[0][1]
    bins = np.linspace(-np.log10(1 / LOGIT_CLIP - 1), np.log10(1 / LOGIT_CLIP - 1), 33)
    for version in versions:
        part = frame.loc[frame["version"] == version, "clipped"]
        log_odds = np.clip(np.log10(part / (1 - part)), bins[0], bins[-1] - 1e-9)  # the clip's edge inside
        ax.hist(log_odds, bins=bins, alpha=0.6, label=name(version))
    drawn = min(max(threshold, LOGIT_CLIP), 1 - LOGIT_CLIP)  # a bar of 0 or 1 sits at the axis' clipped edge
    ax.axvline(np.log10(drawn / (1 - drawn)), color="red", linestyle="--")
    ticks = np.array([0.5, 0.9, 0.99, 0.999, 0.9999])
    ax.set_xticks(np.log10(ticks / (1 - ticks)), [f"{t:g}" for t in ticks])
    ax.set_xlim(left=-0.2)
    ax.set(title="Confidence per version (log-odds bins)", xlabel="top-class confidence", ylabel="predictions")
    ax.legend(fontsize="small")

    ax = axes[1][0]
    x = np.arange(len(classes))
    width = 0.8 / (len(versions) + (1 if evaluation else 0) or 1)
    for i, version in enumerate(versions):
        counts = class_counts(frame[frame["version"] == version], classes).to_numpy(dtype=float)
        ax.bar(x - 0.4 + width * (i + 0.5), counts / max(counts.sum(), 1), width=width, label=name(version))
    if evaluation:
        reference = np.array([evaluation.get("evaluation", {}).get("predicted_counts", {}).get(c, 0)
                              for c in classes], dtype=float)
        ax.bar(x + 0.4 - width / 2, reference / max(reference.sum(), 1), width=width, label="evaluation set",
               color="grey")
    ax.set_xticks(x, classes, rotation=30 if len(classes) > 4 else 0)
    ax.set(title="Predicted class mix", ylabel="share")
    ax.legend(fontsize="small")

    ax = axes[1][1]
    for version in versions:
        part = np.sort(frame.loc[frame["version"] == version, "clipped"].to_numpy())
        ax.step(part, np.linspace(0, 1, len(part)), label=name(version))
    reference_conf = (evaluation or {}).get("evaluation", {}).get("top_confidences", [])
    if reference_conf:
        ax.step(np.sort(np.clip(reference_conf, LOGIT_CLIP, 1 - LOGIT_CLIP)), np.linspace(0, 1, len(reference_conf)),
                label="evaluation set", color="grey")
    ax.axvline(threshold, color="red", linestyle="--")
    _logit_axis(ax.xaxis, ax.set_xscale, ax.set_xlim)
    ax.set(title="Confidence distribution (ECDF, logit axis)", xlabel="top-class confidence",
           ylabel="cumulative share")
    ax.legend(fontsize="small")

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write_report(scan: CaptureScan, classes: list[str], threshold: float, evaluation: dict | None,
                 output: Path, evaluations: dict[str, dict] | None = None) -> dict:
    report = build_report(scan, classes, threshold, evaluation, evaluations)
    output.mkdir(parents=True, exist_ok=True)
    plot = plot_report(scan, classes, threshold, evaluation, output / "report.png")
    report["plot"] = str(plot) if plot else None
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report

"""Monitoring report on a capture folder with good and corrupt lines."""

import datetime as dt
import json

import numpy as np
import pytest
from PIL import Image

from scones import cli
from scones.monitor.capture_reader import read_capture
from scones.monitor.report import class_mix_drift, confidence_drift, write_report
from scones.serving.capture import capture_record

CLASSES = ["bicycle", "motorcycle"]
EVALUATION = {"evaluation": {"classes": CLASSES, "predicted_counts": {"bicycle": 100, "motorcycle": 100},
                             "top_confidences": list(np.linspace(0.9, 1.0, 200))},
              "multiclass_classification_metrics": {"accuracy": {"value": 0.95}}}


def write_capture(folder, probabilities, corrupt_lines, start=dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)):
    """Two hour folders of SageMaker-format lines, with corrupt lines mixed in."""
    lines = []
    for i, row in enumerate(probabilities):
        when = start + dt.timedelta(minutes=i)
        record = capture_record("image/png", b"\x89PNG...", "application/json", json.dumps(row).encode(), when,
                                {"modelVersion": "3"})
        lines.append((when, json.dumps(record)))
    lines += [(start, bad) for bad in corrupt_lines]
    for hour in (10, 11):
        part = [line for when, line in lines if when.hour == hour or (hour == 10 and when.hour < 10)]
        target = folder / f"scones-endpoint/AllTraffic/2026/11/23/{hour:02d}"
        target.mkdir(parents=True)
        (target / "a.jsonl").write_text("\n".join(part[: len(part) // 2]) + "\n")
        (target / "b.jsonl").write_text("\n".join(part[len(part) // 2:]) + "\n")


CORRUPT = ["{not json", '{"captureData": {}}', json.dumps({"captureData": {"endpointOutput": {
    "data": "\"text\"", "encoding": "JSON"}}, "eventMetadata": {"inferenceTime": "2026-11-23T10:00:00Z"}})]


@pytest.fixture
def capture(tmp_path):
    rng = np.random.default_rng(0)
    top = rng.uniform(0.5, 1.0, 90)
    rows = [[p, 1 - p] if i % 3 else [1 - p, p] for i, p in enumerate(top)]
    write_capture(tmp_path / "capture", rows, CORRUPT)
    return tmp_path / "capture", rows


def test_report_counts_lines_corruption_and_threshold(capture, tmp_path):
    folder, rows = capture
    scan = read_capture(folder)
    report = write_report(scan, CLASSES, 0.93, EVALUATION, tmp_path / "out")
    assert (report["files"], report["lines"], report["corrupt_lines"]) == (4, 93, 3)
    assert report["predictions"] == 90
    assert report["below_threshold"] == sum(max(r) < 0.93 for r in rows)
    assert report["predicted_counts"] == {"bicycle": sum(r[0] >= r[1] for r in rows),
                                          "motorcycle": sum(r[1] > r[0] for r in rows)}
    assert report["model_versions"] == ["3"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["corrupt_lines"] == 3


def test_the_png_is_a_real_plot(capture, tmp_path):
    folder, _ = capture
    report = write_report(read_capture(folder), CLASSES, 0.93, EVALUATION, tmp_path / "out")
    with Image.open(report["plot"]) as image:
        assert image.format == "PNG" and image.width > 800 and image.height > 500
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10, "not a blank canvas"
    assert (pixels < 100).mean() > 0.005, "has drawn marks"


def test_drift_is_detected_when_confidence_collapses(capture):
    folder, _ = capture
    scan = read_capture(folder)
    confidences = np.array([p.confidence for p in scan.predictions])
    assert confidence_drift(confidences, np.array(EVALUATION["evaluation"]["top_confidences"])).drifted is True
    assert confidence_drift(np.linspace(0.9, 1.0, 90), np.linspace(0.9, 1.0, 200)).drifted is False
    assert class_mix_drift(np.array([90.0, 10.0]), np.array([100.0, 100.0])).drifted is True
    assert class_mix_drift(np.array([52.0, 48.0]), np.array([100.0, 100.0])).drifted is False
    assert class_mix_drift(np.array([5.0, 3.0]), np.array([100.0, 100.0])).drifted is None


def test_cli_report_uses_the_approved_versions_evaluation(capture, workspace, tmp_path, capsys):
    folder, _ = capture
    registry = workspace.registry()
    registry.register(workspace.model_group, "s3://scones-local/m.tar.gz", "img", EVALUATION)
    registry.approve(workspace.model_group, 1)
    assert cli.main(["monitor", "report", "--capture", str(folder), "--output", str(tmp_path / "r"),
                     "--hours", "0"]) == 3, "drift exits with its documented code"
    out = capsys.readouterr().out
    assert "4 files, 93 lines, 3 corrupt (skipped), 90 predictions" in out
    assert "Kolmogorov-Smirnov): DRIFT" in out
    assert (tmp_path / "r" / "report.png").exists()
    from scones.notify import LocalOutbox

    [alert] = [r for r in LocalOutbox(workspace.workspace.root / "outbox.jsonl").read() if r["kind"] == "drift"]
    assert alert["subject"].startswith("drift in live traffic vs the evaluation of v1")
    assert alert["message"]["plot"].endswith("report.png")
    assert {t["name"] for t in alert["message"]["tests"]} and all(t["p_value"] < 0.05
                                                                   for t in alert["message"]["tests"])


def test_cli_report_without_drift_exits_0_and_alerts_no_one(workspace, tmp_path, capsys):
    rows = [[p, 1 - p] if i % 2 else [1 - p, p] for i, p in enumerate(np.linspace(0.9, 1.0, 110))]  # 2 hours
    write_capture(tmp_path / "capture", rows, [])
    registry = workspace.registry()
    registry.register(workspace.model_group, "s3://scones-local/m.tar.gz", "img", EVALUATION)
    registry.approve(workspace.model_group, 1)
    assert cli.main(["monitor", "report", "--capture", str(tmp_path / "capture"), "--output", str(tmp_path / "r"),
                     "--hours", "0"]) == 0
    assert "DRIFT" not in capsys.readouterr().out
    from scones.notify import LocalOutbox

    assert [r for r in LocalOutbox(workspace.workspace.root / "outbox.jsonl").read() if r["kind"] == "drift"] == []

"""Monitoring report on a capture folder with good and corrupt lines."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.capture import capture_record
from scones import cli
from scones.monitor.capture_reader import read_capture
from scones.monitor.report import class_mix_drift, confidence_drift, write_report

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


def _traffic(version, rows, start):
    return [json.dumps(capture_record("image/png", b"x", "application/json", json.dumps(row).encode(),
                                      start + dt.timedelta(minutes=i), {"modelVersion": version}))
            for i, row in enumerate(rows)]


def test_each_version_is_judged_against_its_own_evaluation(tmp_path):
    """v2 predicts bicycle 9 times in 10, as it did on its own evaluation: not drift, though v1's would say so."""
    from scones.monitor.report import build_report

    start = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    confident = list(np.linspace(0.9, 1.0, 40))
    balanced = [[p, 1 - p] if i % 2 else [1 - p, p] for i, p in enumerate(confident)]
    mostly_bicycle = [[p, 1 - p] if i % 10 else [1 - p, p] for i, p in enumerate(confident)]
    v2_evaluation = {"evaluation": {"classes": CLASSES, "predicted_counts": {"bicycle": 90, "motorcycle": 10},
                                    "top_confidences": list(np.linspace(0.9, 1.0, 100))}}
    folder = tmp_path / "capture" / "2026" / "11" / "23" / "10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("\n".join(_traffic("1", balanced, start) +
                                              _traffic("2", mostly_bicycle, start)) + "\n")
    scan = read_capture(tmp_path / "capture")
    report = build_report(scan, CLASSES, 0.93, EVALUATION, {"1": EVALUATION, "2": v2_evaluation})
    assert list(report["by_version"]) == ["1", "2"]
    assert [report["by_version"][v]["verdict"] for v in ("1", "2")] == ["ok", "ok"]
    assert report["by_version"]["2"]["predicted_counts"] == {"bicycle": 36, "motorcycle": 4}
    assert report["predictions"] == 80 and report["model_versions"] == ["1", "2"]
    assert [(h["version"], h["predictions"]) for h in report["by_hour"]] == [("1", 40), ("2", 40)]
    judged_by_v1 = build_report(scan, CLASSES, 0.93, EVALUATION, {"1": EVALUATION})
    assert judged_by_v1["by_version"]["2"]["verdict"] == "drift", "without its own evaluation v2 looks drifted"


def test_frames_count_per_hour_and_class():
    from scones.monitor.capture_reader import CaptureScan, Prediction
    from scones.monitor.frames import class_counts, per_hour, predictions_frame, version_order

    start = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC)
    scan = CaptureScan(predictions=[Prediction(start + dt.timedelta(minutes=20 * i), p, v) for i, (p, v) in
                                    enumerate([((0.9, 0.1), "10"), ((0.2, 0.8), "2"), ((0.99, 0.01), "2"),
                                               ((0.5, 0.3, 0.2), "")])])
    frame = predictions_frame(scan, CLASSES)
    assert version_order(frame) == ["2", "10", "?"]
    assert class_counts(frame, CLASSES).to_dict() == {"bicycle": 3, "motorcycle": 1}
    hours = per_hour(frame, 0.93)
    assert hours[["version", "predictions", "below_threshold"]].values.tolist() == [
        ["10", 1, 1], ["2", 1, 1], ["2", 1, 0], ["?", 1, 1]]
    assert predictions_frame(CaptureScan(), CLASSES).empty


def test_drift_with_retrain_starts_one_run_and_refuses_a_second(capture, workspace, tmp_path, tiny_archive, capsys):
    """Done-when of issue 13: drifted capture -> exit 3, one notification, a new execution (and only one)."""
    from scones.engine.records import list_executions
    from scones.notify import LocalOutbox
    from tests.support import wait_for

    folder, _ = capture
    registry = workspace.registry()
    registry.register(workspace.model_group, "s3://scones-local/m.tar.gz", "img", EVALUATION)
    registry.approve(workspace.model_group, 1)
    argv = ["monitor", "report", "--capture", str(folder), "--output", str(tmp_path / "r"), "--hours", "0",
            "--retrain", "--retrain-input", str(tiny_archive), "--retrain-param", "Epochs=3"]
    assert cli.main(argv) == 3
    out = capsys.readouterr().out
    [record] = list_executions(workspace.workspace.runs)
    assert f"retraining: started {record.pipeline_name} execution {record.execution_id}" in out
    assert record.status == "Executing"
    assert cli.main(argv) == 1, "a second retrain while the first runs is refused"
    assert f"already running execution {record.execution_id}" in capsys.readouterr().err
    outbox = LocalOutbox(workspace.workspace.root / "outbox.jsonl")
    assert len([r for r in outbox.read() if r["kind"] == "drift"]) == 2, "each drifted report alerts once"
    wait_for(lambda: list_executions(workspace.workspace.runs)[0].status != "Executing", timeout=240)
    [done] = list_executions(workspace.workspace.runs)
    assert done.status == "Succeeded", (Path(done.folder) / "console.log").read_text()[-2000:]
    assert [v.version for v in registry.list_versions(workspace.model_group)] == [1, 2], "the retrained model"
    assert done.parameters["Epochs"] == 3, "--retrain-param reaches the run"


def test_the_reference_is_the_version_that_served_not_an_approved_one_that_never_did(tmp_path, workspace):
    """Issue 29: v2 approved but failed to deploy while v1 kept serving: the report compares with v1."""
    from scones.monitor.reference import reference, served_last, versions_in

    registry = workspace.registry()
    for n in (1, 2):
        registry.register(workspace.model_group, f"s3://b/m{n}/model.tar.gz", "img", EVALUATION)
        registry.approve(workspace.model_group, n, "ok" if n == 1 else "approved; its deployment failed")
    start = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    folder = tmp_path / "capture" / "2026" / "11" / "23" / "10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("\n".join(_traffic("1", [[0.9, 0.1]] * 5, start)) + "\n")
    scan = read_capture(tmp_path / "capture")
    ref = reference(registry, workspace.model_group, seen=versions_in(scan), served_last=served_last(scan))
    assert ref.version.version == 1 and ref.name == "v1"
    nothing = read_capture(tmp_path / "empty")
    assert reference(registry, workspace.model_group, served_last=served_last(nothing)).version.version == 2, \
        "with no capture, the newest approved is all there is"

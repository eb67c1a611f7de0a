"""The review loop on this machine: the workflow queues what it cannot judge, a person answers, answers
become ground truth joined to the capture records, and the answered images export as training folders."""

import json

import pytest

from scones import cli
from scones.review.output import read_answers
from scones.workflow.classify import classify_images, review_target
from tests import support

CLASSES = ["bicycle", "motorcycle"]


@pytest.fixture
def reviewed(endpoint, served):
    """Three images through the workflow with a bar no image meets, one of them a damaged upload."""
    server, _, _ = endpoint
    images = [("a.png", support.random_png(seed=1)), ("b.png", support.random_png(seed=2)),
              ("damaged.png", support.truncated_png())]
    report = classify_images(images, server.url, "scones-endpoint", CLASSES, 1.0, review=review_target(served))
    return served, report


def test_every_image_the_workflow_could_not_judge_waits_in_the_queue_with_its_image(reviewed):
    settings, report = reviewed
    assert [r.status for r in report.results] == ["review"] * 3
    queue = settings.review_queue()
    items = {item.id: item for item in queue.items()}
    assert set(items) == {r.review_id for r in report.results}
    low, _, damaged = (items[r.review_id] for r in report.results)
    assert low.reason.startswith("LowConfidenceError") and len(low.probabilities) == 2 and low.model_version == 1
    assert low.inference_id and low.classes == tuple(CLASSES)
    assert damaged.reason.startswith("InvalidImageError") and damaged.probabilities == () and damaged.label == ""
    store = settings.store()
    assert store.get_bytes(low.image) == support.random_png(seed=1), "the reviewer sees exactly that image"


def test_the_cli_lists_answers_and_refuses_in_one_line(reviewed, capsys):
    settings, report = reviewed
    first = report.results[0].review_id
    assert cli.main(["review", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["status"] for i in listed] == ["pending"] * 3
    assert {"id", "image", "label", "confidence", "status", "answer"} <= set(listed[0])
    assert cli.main(["review", "answer", first, "motorcycle", "--reason", "engine", "--reviewer", "ana"]) == 0
    assert "ground truth 'motorcycle'" in capsys.readouterr().out
    assert cli.main(["review", "answer", first, "car"]) == 1
    assert "'car' is not an answer" in capsys.readouterr().err
    assert cli.main(["review", "answer", "r-nope", "bicycle"]) == 1
    assert "no review item 'r-nope'" in capsys.readouterr().err
    assert cli.main(["review", "list", "--status", "answered"]) == 0
    assert f"{first}" in capsys.readouterr().out


def test_answers_join_the_capture_records_they_judge(reviewed):
    from scones.monitor.capture_reader import read_capture
    from scones.serving.run import DEFAULT_ENDPOINT, capture_root

    settings, report = reviewed
    queue = settings.review_queue()
    for result in report.results[:2]:
        queue.answer(result.review_id, "bicycle", "ana")
    truths, problems = read_answers(settings.store(), settings.review_output)
    assert problems == [] and len(truths) == 2
    ids = {t.inference_id for t in truths}
    import time

    deadline = time.monotonic() + 5
    while True:
        scan = read_capture(capture_root(settings) / DEFAULT_ENDPOINT)
        captured = {p.inference_id for p in scan.predictions}
        if ids <= captured or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ids <= captured, "each answer names a capture record by its InferenceId"


def test_export_writes_class_folders_and_holds_a_share_back(reviewed, tmp_path, capsys):
    settings, report = reviewed
    queue = settings.review_queue()
    low_a, low_b, damaged = (r.review_id for r in report.results)
    queue.answer(low_a, "motorcycle", "ana")
    queue.answer(low_b, "none of these", "ana")
    queue.answer(damaged, "bicycle", "ana")
    out = tmp_path / "reviewed"
    assert cli.main(["review", "export", "--output", str(out), "--held-back", "0"]) == 0
    printed = capsys.readouterr().out
    assert "exported 1 answered images" in printed and "2 not exportable" in printed
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.png")] == [f"motorcycle/{low_a}.png"]
    manifest = json.loads((out / "review-export.json").read_text())
    assert manifest["exported"] == [low_a]
    from scones.review.export import is_held_back

    assert is_held_back(low_a, 0.999) and not is_held_back(low_a, 0.0)


def test_live_accuracy_per_version_in_the_monitor_report_alerts_when_below_the_evaluation(reviewed, tmp_path, capsys):
    """Two reviewers' answers contradict the model on both gradable images: v1 is worse live than its 0.9."""
    from scones.notify import LocalOutbox

    settings, report = reviewed
    queue = settings.review_queue()
    low_a, low_b, damaged = report.results
    for result in (low_a, low_b):
        model_label = queue.get(result.review_id).label
        queue.answer(result.review_id, next(c for c in CLASSES if c != model_label), "ana")
    queue.answer(damaged.review_id, "bicycle", "ana")  # the endpoint refused it: grades nothing
    code = cli.main(["monitor", "report", "--output", str(tmp_path / "m"), "--hours", "0", "--threshold", "1.0"])
    assert code == 3, capsys.readouterr()
    out = capsys.readouterr().out
    quality = json.loads((tmp_path / "m" / "report.json").read_text())["model_quality"]
    v1 = quality["1"]
    assert (v1["reviewed"], v1["correct"], v1["accuracy"]) == (2, 0, 0.0)
    assert v1["ci_low"] == 0.0 and 0.6 < v1["ci_high"] < 0.7 and v1["evaluation_accuracy"] == 0.9
    assert v1["below_evaluation"] is True and v1["without_capture"] == 0
    assert v1["population"].startswith("all traffic"), "at a bar of 1.0 the reviewed images are all the traffic"
    assert quality["?"]["ungraded"] == 1
    assert code == 3 and "LIVE ACCURACY BELOW EVALUATION: v1" in out
    kinds = [r["kind"] for r in LocalOutbox(settings.workspace.root / "outbox.jsonl").read()]
    assert "model_quality" in kinds

"""The batch scoring pipeline: rendered by the SDK, accepted by SageMaker's shapes, run here end to end."""

import csv
import io
import json
import shutil

import pytest

from processing.batch_summary import model_classes, summarize
from scones.cli import main as scones


@pytest.fixture(scope="module")
def batch_definition():
    from scones.engine.local_run import render_definition

    return render_definition("pipelines.batch.pipeline")


def test_the_batch_definition_is_model_transform_summary_and_sagemaker_would_accept_it(batch_definition):
    from scones.engine.executor import resolve_parameters
    from scones.engine.expressions import Resolver
    from scones.engine.request_shapes import step_request_errors

    name, definition = batch_definition
    assert name == "SconesBatch"
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("CreateScoringModel-CreateModel", "Model"), ("ScoreImages", "Transform"), ("SummarizeScores", "Processing")]
    fake = {"ModelName": "m", "TransformOutput": {"S3OutputPath": "s3://b/p"}}
    resolver = Resolver(resolve_parameters(definition, {}), {"PipelineExecutionId": "e1"}, lambda step: fake,
                        lambda ref: None, lambda uri: None)
    for step in definition["Steps"]:
        assert step_request_errors(step["Type"], resolver.resolve(step["Arguments"])) == [], step["Name"]


def test_scones_batch_run_scores_a_folder_and_sends_the_uncertain_ones_to_review(served, tiny_etl, tmp_path, capsys):
    folder = tmp_path / "photos"
    images = sorted((tiny_etl / "test").rglob("*.png"))
    for path in images:
        target = folder / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    # a threshold no image reaches: every one goes to review, so the count is known
    assert scones(["batch", "run", "--input", str(folder), "--threshold", "1.01"]) == 0
    out = capsys.readouterr().out
    assert f"with {served.model_group} version 1 (Approved)" in out
    assert f"{len(images)} images: 0 at or above 1.01, {len(images)} below ({len(images)} queued for review" in out
    assert f"{len(images)} images: 0 at or above 1.01, {len(images)} below (to review)" in out  # the step's line
    queue = served.review_queue()
    items = queue.items()
    assert len(items) == len(images) and {i.model_version for i in items} == {1}
    assert all(i.image.startswith("s3://") and i.image.endswith(".png") and "batch scoring" in i.reason
               for i in items)
    store = served.store()
    table = next(uri for uri, _ in store.list("s3://scones-local/scones/batch") if uri.endswith("predictions.csv"))
    rows = list(csv.DictReader(io.StringIO(store.get_bytes(table).decode())))
    assert len(rows) == len(images) and set(rows[0]) == {"image", "label", "confidence", "bicycle", "motorcycle"}
    right = sum(row["label"] == row["image"].rsplit("/", 2)[-2] for row in rows)
    assert right / len(rows) >= 0.8  # the tiny model's own test images, labelled by their folder


def test_scones_batch_run_without_an_approved_version_says_what_to_do(workspace, tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    workspace.registry().register(workspace.model_group, "s3://scones-local/m/model.tar.gz", "image")  # pending
    assert scones(["batch", "run", "--input", str(tmp_path / "photos")]) != 0
    assert "no approved version in model group" in capsys.readouterr().err


def test_the_summary_names_unreadable_outputs_and_loses_no_image(tmp_path):
    predictions = tmp_path / "predictions"
    (predictions / "a").mkdir(parents=True)
    (predictions / "a" / "sure.png.out").write_text("[0.99, 0.01]")
    (predictions / "a" / "unsure.png.out").write_text("[0.6, 0.4]")
    (predictions / "broken.png.out").write_text('{"error": "refused"}')
    summary = summarize(predictions, ["bicycle", "motorcycle"], tmp_path / "out", 0.93, "s3://b/in/")
    assert (summary["images"], summary["at_or_above_threshold"], summary["below_threshold"]) == (2, 1, 1)
    assert summary["unreadable"] == [{"image": "s3://b/in/broken.png",
                                      "why": 'expected 2 probabilities, got {"error": "refused"}'}]
    review = [json.loads(line) for line in (tmp_path / "out" / "review.jsonl").read_text().splitlines()]
    assert [r["image"] for r in review] == ["s3://b/in/a/unsure.png"]


def test_the_models_classes_come_from_the_artifact(trained_model, tmp_path):
    assert model_classes(trained_model) == ["bicycle", "motorcycle"]
    (tmp_path / "model.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="not a readable model.tar.gz"):
        model_classes(tmp_path)


def test_the_run_page_links_the_batch_summary_and_predictions(tmp_path):
    from scones.engine.records import StepRecord
    from scones.store.local import LocalStore
    from scones.ui.views import step_artifacts

    store = LocalStore(tmp_path / "store")
    prefix = "s3://bkt/scones/batch/e1/summary"
    for name in ("summary.json", "predictions.csv", "review.jsonl"):
        store.put_bytes(f"{prefix}/{name}", b"{}")
    step = StepRecord("SummarizeScores", "Processing", properties={"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "summary", "S3Output": {"S3Uri": prefix}}]}})
    assert sorted((a["name"], a["what"]) for a in step_artifacts(step, store)) == [
        ("predictions.csv", "predictions table"), ("summary.json", "batch summary")]

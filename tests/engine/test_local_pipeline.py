"""The real pipeline definition, run locally end to end on a tiny synthetic archive.

One pipeline run (v1 pending) is made once per module; every test that builds on it gets its own
copy of that workspace, so the tests pass alone and in any order.
"""

import json
import shutil

import pytest

from scones import cli
from scones.registry import PENDING

RUN = ["pipeline", "run", "-p", "Epochs=4", "-p", "BatchSize=16"]


def _use_home(home, monkeypatch):
    monkeypatch.setenv("SCONES_HOME", str(home))
    for name in ("SCONES_REGISTRY", "SCONES_STORE", "SCONES_MODEL_GROUP"):
        monkeypatch.delenv(name, raising=False)
    from scones.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_archive):
    """A workspace after one successful run: (its folder, what the run printed)."""
    import contextlib
    import io

    home = tmp_path_factory.mktemp("home")
    monkeypatch = pytest.MonkeyPatch()
    _use_home(home, monkeypatch)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([*RUN, "--input", str(tiny_archive)])
    monkeypatch.undo()
    assert code == 0, out.getvalue()
    return home, out.getvalue()


@pytest.fixture
def after_first_run(first_run, tmp_path, monkeypatch):
    """A private copy of the workspace after the first run: a test may change it freely."""
    home = shutil.copytree(first_run[0], tmp_path / "home")
    return _use_home(home, monkeypatch)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty workspace."""
    return _use_home(tmp_path / "fresh-home", monkeypatch)


def test_run_registers_version_1_pending_with_its_accuracy(first_run, after_first_run):
    _, out = first_run
    for step in ("EtlCifar", "CheckImages", "TrainModel", "EvaluateModel", "CheckAccuracy"):
        assert step in out
    env = after_first_run
    versions = env.registry().list_versions("SconesModels")
    assert [(v.version, v.status) for v in versions] == [(1, PENDING)]
    assert versions[0].accuracy >= 0.8
    model = versions[0].model_data_url
    assert model.endswith("/output/model.tar.gz") and env.store().exists(model)
    evaluation = versions[0].metrics["multiclass_classification_metrics"]
    assert set(evaluation["confusion_matrix"]) == {"bicycle", "motorcycle"}


def test_threshold_above_one_fires_the_fail_step_and_registers_nothing(after_first_run, tiny_archive, capsys):
    code = cli.main([*RUN, "--input", str(tiny_archive), "-p", "AccuracyThreshold=1.01"])
    out = capsys.readouterr().out
    assert code == 1
    assert "is below the threshold 1.01 - not registered." in out
    assert "cached from" in out, "unchanged steps reuse the first run's outputs"
    assert [v.version for v in after_first_run.registry().list_versions("SconesModels")] == [1]
    assert cli.main(["pipeline", "status"]) == 0
    status = capsys.readouterr().out
    assert "AccuracyBelowThreshold" in status and "Failed" in status, "status shows the latest execution"


def test_registry_cli_approves_and_reports_unknown_versions(after_first_run, capsys):
    assert cli.main(["registry", "approve", "1", "--reason", "looks right"]) == 0
    assert "SconesModels/1 is now Approved" in capsys.readouterr().out
    assert cli.main(["registry", "reject", "9"]) == 1
    assert "has no version 9 (versions: 1)" in capsys.readouterr().err
    assert cli.main(["registry", "describe", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["approval_description"] == "looks right"


def test_a_broken_archive_fails_the_etl_step_and_shows_its_log_tail(env, tmp_path, capsys):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"this is not a tarball")
    assert cli.main(["pipeline", "run", "--input", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "EtlCifar" in out and "Failed" in out
    assert "etl failed:" in out and "not a readable tar archive" in out, "the log tail explains the failure"


def test_a_missing_input_file_is_a_clear_error(env, tmp_path, capsys):
    assert cli.main(["pipeline", "run", "--input", str(tmp_path / "missing.tar.gz")]) == 1
    assert "input not found" in capsys.readouterr().err


def test_registration_notifications_compare_with_the_approved_model(after_first_run, tiny_archive, capsys):
    """With v1 approved, the next registration's notification shows both accuracies."""
    from scones.notify import LocalOutbox

    env = after_first_run
    outbox = LocalOutbox(env.workspace.root / "outbox.jsonl")
    first = [r for r in outbox.read() if r["kind"] == "model_registered"][0]
    assert "no version approved yet" in first["subject"]
    env.registry().approve("SconesModels", 1, "first")
    assert cli.main([*RUN, "--input", str(tiny_archive)]) == 0
    latest = [r for r in outbox.read() if r["kind"] == "model_registered"][-1]
    assert latest["subject"].startswith("SconesModels v2 registered")
    assert latest["message"]["approved"]["version"] == 1
    assert latest["message"]["new"]["accuracy"] == latest["message"]["approved"]["accuracy"]


def test_deleting_an_image_from_the_input_folder_reruns_the_etl(env, tmp_path, capsys):
    """The stale-data bug: a folder is staged as a mirror, so the ETL sees the deletion and re-runs."""
    from scones.engine.records import list_executions
    from scones.settings import Settings
    from tests.support import red_and_blue_folder

    folder = red_and_blue_folder(tmp_path / "photos", 15, seed=0)
    args = ["pipeline", "run", "--input", str(folder), "-p", "Epochs=2", "-p", "BatchSize=16",
            "-p", "AccuracyThreshold=0"]
    assert cli.main(args) == 0
    (folder / "red" / "0.png").unlink()
    assert cli.main(args) == 0
    capsys.readouterr()
    runs = Settings.from_env().workspace.runs
    latest, first = list_executions(runs)[:2]
    assert not latest.step("EtlCifar").cached_from, "the ETL ran again on the changed folder"
    assert latest.step("CheckImages").summary == "0 of 29 files quarantined"
    assert first.step("CheckImages").summary == "0 of 30 files quarantined"


def test_a_failed_run_sends_one_failure_notification(after_first_run, tiny_archive, capsys):
    from scones.notify import LocalOutbox

    assert cli.main([*RUN, "--input", str(tiny_archive), "-p", "AccuracyThreshold=1.01"]) == 1
    capsys.readouterr()
    failures = [r for r in LocalOutbox(after_first_run.workspace.root / "outbox.jsonl").read()
                if r["kind"] == "pipeline_failed"]
    assert len(failures) == 1
    message = failures[0]["message"]
    assert message["step"] == "AccuracyBelowThreshold" and "below the threshold 1.01" in message["reason"]
    assert message["see"] == f"scones pipeline status {message['execution']}"
    assert failures[0]["subject"].startswith("pipeline SconesPipeline failed at AccuracyBelowThreshold")


def test_a_failed_check_step_notifies_with_its_log_tail(env, tmp_path, capsys):
    from scones.notify import LocalOutbox

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"this is not a tarball")
    assert cli.main(["pipeline", "run", "--input", str(broken)]) == 1
    capsys.readouterr()
    [failure] = [r for r in LocalOutbox(env.workspace.root / "outbox.jsonl").read() if r["kind"] == "pipeline_failed"]
    assert failure["message"]["step"] == "EtlCifar"
    assert any("not a readable tar archive" in line for line in failure["message"]["log_tail"])


def test_both_instance_counts_at_two_build_one_dataset_and_one_model(env, tmp_path, capsys):
    """The issue's "done when": two processing and two training instances, one dataset (the digest a
    single instance computes over the same folder) and one registered model."""
    from processing import check, etl
    from scones.engine.records import list_executions
    from scones.settings import Settings
    from tests.support import red_and_blue_folder

    folder = red_and_blue_folder(tmp_path / "photos", 20, seed=1)
    args = ["pipeline", "run", "--input", str(folder), "-p", "Epochs=2", "-p", "BatchSize=16",
            "-p", "AccuracyThreshold=0", "-p", "ProcessingInstanceCount=2", "-p", "TrainingInstanceCount=2"]
    assert cli.main(args) == 0
    capsys.readouterr()
    settings = Settings.from_env()
    run = list_executions(settings.workspace.runs)[0]
    for name in ("EtlCifar", "CheckImages", "TrainModel"):
        assert run.step(name).summary.endswith("(on 2 instances)"), name
    assert [v.version for v in settings.registry().list_versions(settings.model_group)] == [1]
    outputs = run.step("EvaluateModel").properties["ProcessingOutputConfig"]["Outputs"]
    evaluation = json.loads(settings.store().get_bytes(f"{outputs[0]['S3Output']['S3Uri']}/evaluation.json"))
    etl.run_etl(str(folder), tmp_path / "etl", [], 0.2, 0)
    single = check.run_check({s: tmp_path / "etl" / s for s in ("train", "validation", "test")},
                             tmp_path / "clean", tmp_path / "quarantine")
    assert evaluation["data"]["dataset_digest"] == single["dataset_digest"]


def test_retraining_on_answered_images_adds_them_to_the_next_version(after_first_run, tiny_archive, capsys):
    """Answers -> `scones review export` (staged at ReviewedDataUrl) -> the next run trains on them."""
    from scones.notify import LocalOutbox
    from scones.review import ReviewItem, item_id
    from scones.review.export import is_held_back
    from tests import support

    env = after_first_run
    queue, store = env.review_queue(), env.store()
    ids = []
    for n in range(8):
        image = f"s3://scones-workflow-local/review/{n}.png"
        store.put_bytes(image, support.random_png(size=48, seed=100 + n))
        item = queue.add(ReviewItem(id=item_id("exec-1", image), image=image, classes=("bicycle", "motorcycle"),
                                    probabilities=(0.55, 0.45), model_version=1, reason="LowConfidenceError",
                                    inference_id=f"inf-{n}"))
        queue.answer(item.id, ("bicycle", "motorcycle")[n % 2], "ana")
        ids.append(item.id)
    trained = [i for i in ids if not is_held_back(i, 0.2)]
    assert 0 < len(trained) < len(ids), "the seeded ids hold some back"
    assert cli.main(["review", "export"]) == 0
    assert f"exported {len(trained)} answered images into s3://scones-local/scones/reviewed" in capsys.readouterr().out
    assert cli.main([*RUN, "--input", str(tiny_archive)]) == 0
    assert f"{len(trained)} reviewed images in the train split" in capsys.readouterr().out
    v1, v2 = (env.registry().get_version("SconesModels", n) for n in (1, 2))
    assert v1.metrics["data"]["reviewed_images"] == 0
    assert v2.metrics["data"]["reviewed_images"] == len(trained)
    assert v2.metrics["data"]["dataset_digest"] != v1.metrics["data"]["dataset_digest"]
    latest = [r for r in LocalOutbox(env.workspace.root / "outbox.jsonl").read() if r["kind"] == "model_registered"][-1]
    assert latest["subject"].endswith(f"trained on {len(trained)} reviewed images")


def test_the_registration_notice_compares_with_the_version_the_endpoint_served(after_first_run, tiny_archive):
    """Issue 29: v2 approved but failed to deploy, v1 served: the next version is compared with v1, as live."""
    import json as json_module

    from scones.notify import LocalOutbox
    from scones.serving.run import state_file

    env = after_first_run
    registry = env.registry()
    registry.approve("SconesModels", 1, "first")
    v1 = registry.get_version("SconesModels", 1)
    registry.register("SconesModels", v1.model_data_url, v1.image, v1.metrics)  # v2
    registry.approve("SconesModels", 2, "approved; its deployment failed its check")
    path = state_file(env, "scones-endpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_module.dumps({"status": "Stopped", "live": {"group": "SconesModels", "version": 1},
                                       "failed_versions": [{"version": 2, "reason": "probe failed"}]}))
    assert cli.main([*RUN, "--input", str(tiny_archive)]) == 0  # v3
    latest = [r for r in LocalOutbox(env.workspace.root / "outbox.jsonl").read() if r["kind"] == "model_registered"][-1]
    assert latest["subject"].startswith("SconesModels v3 registered") and "vs live v1" in latest["subject"]
    assert latest["message"]["compared_with"] == "live" and latest["message"]["approved"]["version"] == 1


def test_only_train_model_reruns_on_the_first_runs_data_and_parameters(after_first_run, capsys):
    from scones.engine.records import list_executions

    runs = after_first_run.workspace.runs
    (source,) = list_executions(runs)
    assert cli.main(["pipeline", "run", "--from-execution", source.execution_id, "--steps", "TrainModel",
                     "-p", "Epochs=1"]) == 0
    out = capsys.readouterr().out
    assert f"only TrainModel run; the other steps' outputs are execution {source.execution_id}'s" in out
    again = next(r for r in list_executions(runs) if r.execution_id != source.execution_id)
    assert [s.name for s in again.steps if s.status == "Succeeded"] == ["TrainModel"]
    assert again.parameters["BatchSize"] == 16 and again.parameters["Epochs"] == 1  # the source's, and -p
    channel = again.step("TrainModel").properties["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert source.execution_id in channel  # trained on the first run's ETL output
    assert [v.version for v in after_first_run.registry().list_versions("SconesModels")] == [1]  # not selected
    assert cli.main(["pipeline", "run", "--from-execution", source.execution_id, "--steps",
                     "EtlCifar,TrainModel"]) == 1
    assert "['CheckImages'] lie on a path between selected steps" in capsys.readouterr().err

import subprocess
import sys

import pytest

from scones import cli


def test_help_teaches_the_first_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "scones demo" in out and "scones data synth" in out


def test_a_bare_group_prints_its_commands(capsys):
    assert cli.main(["data"]) == 2
    out = capsys.readouterr().out
    assert "synth" in out and "etl" in out and "check" in out


def test_step_commands_default_to_the_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCONES_HOME", str(tmp_path))
    assert cli.main(["data", "synth", "--train-per-class", "5", "--test-per-class", "2"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert cli.main(["data", "etl"]) == 0
    assert (tmp_path / "steps" / "etl" / "train" / "train.lst").exists()
    assert cli.main(["data", "check"]) == 0
    assert (tmp_path / "steps" / "clean" / "quarantine" / "report.json").exists()


def _installed(script: str) -> str:
    """A console script of this environment, as `pip install` wrote it next to the interpreter."""
    from pathlib import Path

    path = Path(sys.executable).parent / script
    assert path.exists(), f"{script} is not installed in {path.parent}: pip install -e '.[test]'"
    return str(path)


def test_console_scripts_run_as_installed(tmp_path):
    env = {**__import__("os").environ, "SCONES_HOME": str(tmp_path / "home")}
    scones = subprocess.run([_installed("scones"), "--help"], capture_output=True, text=True, env=env)
    assert scones.returncode == 0 and "scones demo" in scones.stdout
    run = subprocess.run([_installed("run-pipeline"), "--help"], capture_output=True, text=True, env=env)
    assert run.returncode == 0 and "--role-arn" in run.stdout and "--kwargs" in run.stdout
    definition = subprocess.run([_installed("get-pipeline-definition"), "--module-name", "pipelines.cifar.pipeline"],
                                capture_output=True, text=True, env=env, timeout=120)
    assert definition.returncode == 0, definition.stderr
    import json

    document = json.loads(definition.stdout)
    assert {s["Name"] for s in document["Steps"]} >= {"EtlCifar", "CheckImages", "TrainModel", "EvaluateModel"}


def test_train_and_evaluate_commands_write_the_artifact_and_report(tmp_path, monkeypatch, capsys, tiny_etl):
    import json
    import shutil

    monkeypatch.setenv("SCONES_HOME", str(tmp_path))
    shutil.copytree(tiny_etl, tmp_path / "steps" / "clean")
    assert cli.main(["train", "--epochs", "1", "--batch-size", "32"]) == 0
    assert (tmp_path / "steps" / "model.tar.gz").exists()
    assert "epoch=1 train_loss=" in capsys.readouterr().out
    assert cli.main(["evaluate"]) == 0
    report = json.loads((tmp_path / "steps" / "evaluation" / "evaluation.json").read_text())
    assert "accuracy" in report["multiclass_classification_metrics"]


def test_definition_and_template_commands_print_or_write(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("SCONES_HOME", str(tmp_path))
    assert cli.main(["pipeline", "definition", "--output", str(tmp_path / "definition.json")]) == 0
    assert json.loads((tmp_path / "definition.json").read_text())["Version"] == "2020-12-01"
    assert cli.main(["infra", "template", "--output", str(tmp_path / "template.json")]) == 0
    assert "Resources" in json.loads((tmp_path / "template.json").read_text())
    capsys.readouterr()
    assert cli.main(["workflow", "definition", "--batch"]) == 0
    assert json.loads(capsys.readouterr().out)["StartAt"] == "ClassifyEachImage"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-classifier"
    assert cli.main(["workflow", "definition", "--function", f"ClassifyImage={arn}"]) == 0
    states = json.loads(capsys.readouterr().out)["States"]
    assert states["ClassifyImage"]["Parameters"]["FunctionName"] == arn
    assert states["FilterLowConfidence"]["Parameters"]["FunctionName"] == "scones-filter-low-confidence"


def test_a_function_for_a_task_that_does_not_exist_is_one_line(capsys):
    err = _fails_in_one_line(capsys, ["workflow", "definition", "--function", "Classify=x"])
    assert "no workflow task 'Classify'; tasks: SerializeImageData, ClassifyImage, FilterLowConfidence" in err
    assert "expected STATE=NAME_OR_ARN" in _fails_in_one_line(capsys, ["workflow", "definition", "--function", "x"])


# user errors: one line, a non-zero exit, no traceback (--debug shows it) ------------------------------

def _fails_in_one_line(capsys, argv, code=1):
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    return err


def test_cli_mistyped_flag_shows_the_subcommand_usage(workspace, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["data", "etl", "--bogus"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "scones data etl: error: unrecognized arguments: --bogus" in err and "usage: scones data etl" in err


def test_cli_step_before_its_input_names_the_step_to_run(workspace, capsys):
    assert "run `scones data etl && scones data check` first" in _fails_in_one_line(capsys, ["train"])
    assert "run `scones data etl` first" in _fails_in_one_line(capsys, ["data", "check"])
    assert "run `scones train` first" in _fails_in_one_line(capsys, ["evaluate"])


def test_cli_debug_shows_the_traceback(workspace):
    from scones.errors import NotFound

    with pytest.raises(NotFound):
        cli.main(["--debug", "train"])


def test_cli_classify_an_empty_folder(endpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "no images in" in _fails_in_one_line(capsys, ["classify", str(tmp_path / "empty")], code=2)


def test_cli_monitor_report_on_a_missing_capture_writes_nothing(workspace, capsys):
    workspace.registry().create_group(workspace.model_group)
    report = workspace.workspace.root / "monitor" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text('{"kept": true}')
    err = _fails_in_one_line(capsys, ["monitor", "report", "--capture", "/nonexistent/capture"])
    assert "does not exist" in err
    assert report.read_text() == '{"kept": true}', "the last real report is not overwritten"


def test_cli_endpoint_invoke_with_no_endpoint_answering(workspace, tmp_path, capsys):
    import socket

    from tests import support

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    image = support.write(tmp_path / "x.png", support.random_png())
    err = _fails_in_one_line(capsys, ["endpoint", "invoke", str(image), "--url", f"http://127.0.0.1:{port}"])
    assert "is not answering" in err


def test_cli_endpoint_serve_on_a_busy_port(workspace, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        err = _fails_in_one_line(capsys, ["endpoint", "serve", "--port", str(busy.getsockname()[1])])
    assert "already in use" in err and "--port" in err


def test_cli_unreachable_aws_api_is_one_line(workspace, monkeypatch, capsys):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SCONES_REGISTRY", "sagemaker://")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    err = _fails_in_one_line(capsys, ["registry", "list"])
    assert "AWS call failed" in err or "Could not connect" in err

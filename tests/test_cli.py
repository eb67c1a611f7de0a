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


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "scones.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "scones" in result.stdout


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

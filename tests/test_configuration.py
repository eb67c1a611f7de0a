"""Configuration flows one way: agreed values defined once, passed down; no import loops between steps."""

import ast
import json
from pathlib import Path

import pytest

from common import defaults
from common.packaging import PROJECT_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
CODE = PROJECT_PACKAGES
#: Folders above every product package: they may import any of them, and none of them imports these.
DRIVERS = ("tests", "bench")


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _imported_packages(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_every_import_points_down_the_floors():
    """Each top-level package imports only packages below it in PROJECT_PACKAGES: no upward import, no cycle.

    The floors, lowest first: common, training, processing, pipelines, inference_workflow (the
    deployable definitions), scones (the platform), lambdas (the functions, built on the platform).
    The local workflow runs the Lambdas the way the Lambda service does, by the module name the
    task table gives, so the platform never imports the functions above it.
    """
    floors = {package: floor for floor, package in enumerate(CODE)}
    upward = []
    for package in CODE:
        for path, tree in _modules(package):
            for name in _imported_packages(tree) & {*CODE, *DRIVERS}:
                if name in DRIVERS or floors[name] > floors[package]:
                    upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []


def test_every_top_level_folder_of_python_has_a_floor():
    """A new top-level package must take its place in PROJECT_PACKAGES (and so in the test above)."""
    folders = {p.parent.name for p in ROOT.glob("*/*.py")} - {".venv", ".scones"}
    assert folders - {*CODE, *DRIVERS} == set()


def test_training_never_imports_processing_and_common_imports_nothing_of_ours():
    """processing -> training (evaluation uses the serving handler) is the one direction; both stand on common."""
    for path, tree in _modules("training"):
        assert "processing" not in _imported_packages(tree), path
    for path, tree in _modules("common"):
        assert not _imported_packages(tree) & set(CODE) - {"common"}, path


AGREED = ("CONFIDENCE_THRESHOLD", "MODEL_PACKAGE_GROUP", "ENDPOINT_NAME", "ACCURACY_JSON_PATH", "METRICS_KEY",
          "PENDING_APPROVAL", "APPROVED", "REJECTED", "SAGEMAKER_EVENT_SOURCE", "MODEL_PACKAGE_EVENT",
          "PIPELINE_EXECUTION_EVENT", "PIPELINE_NAME", "MONITOR_PIPELINE_NAME", "LOCAL_BUCKET")


@pytest.mark.parametrize(("value", "name"), [(getattr(defaults, name), name) for name in AGREED])
def test_each_agreed_value_is_written_once(value, name):
    """As a literal in code (docstrings aside), the value appears in common/defaults.py only."""
    places = []
    for package in CODE:
        for path, tree in _modules(package):
            docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                          if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                          and n.body and isinstance(n.body[0], ast.Expr)}
            places += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                       if isinstance(node, ast.Constant) and node.value == value and id(node) not in docstrings]
    assert places == [next(p for p in places if p.startswith("common/defaults.py"))], f"{name}: {places}"


def test_the_prefix_is_never_spelled_as_a_default():
    """``scones`` is also the package's and the program's name; as a prefix default it is BASE_PREFIX."""
    spelled = []
    for package in CODE:
        for path, tree in _modules(package):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                        and len(node.args) == 2 and isinstance(node.args[1], ast.Constant) \
                        and node.args[1].value == defaults.BASE_PREFIX:
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.arguments):
                    spelled += [f"{path.relative_to(ROOT)}:{d.lineno}" for d in (*node.defaults, *node.kw_defaults)
                                if isinstance(d, ast.Constant) and d.value == defaults.BASE_PREFIX]
    assert spelled == []


def test_the_accuracy_path_lies_under_the_metrics_key():
    from common.metrics import accuracy_of, report_with

    assert defaults.ACCURACY_JSON_PATH.startswith(defaults.METRICS_KEY + ".")
    assert accuracy_of(report_with({"accuracy": 0.9})) == 0.9
    assert accuracy_of({"accuracy": 0.9}) is None and accuracy_of(report_with({"accuracy": True})) is None


def test_the_model_group_setting_reaches_the_pipeline_that_registers(workspace, monkeypatch, capsys):
    from scones import cli

    monkeypatch.setenv("SCONES_MODEL_GROUP", "DogBreeds")
    assert cli.main(["pipeline", "definition"]) == 0
    definition = json.loads(capsys.readouterr().out)
    steps = [s for s in definition["Steps"] if s["Type"] == "Condition"][0]["Arguments"]["IfSteps"]
    register = next(s for s in steps if s["Type"] == "RegisterModel")
    assert register["Arguments"]["ModelPackageGroupName"] == "DogBreeds"


def test_settings_reads_the_threshold_once_and_refuses_nonsense(monkeypatch):
    from scones.errors import InvalidInput
    from scones.settings import Settings

    monkeypatch.delenv("SCONES_THRESHOLD", raising=False)
    assert Settings.from_env().threshold == defaults.CONFIDENCE_THRESHOLD
    monkeypatch.setenv("SCONES_THRESHOLD", "0.8")
    assert Settings.from_env().threshold == 0.8
    for bad in ("high", "1.5"):
        monkeypatch.setenv("SCONES_THRESHOLD", bad)
        with pytest.raises(InvalidInput, match="SCONES_THRESHOLD"):
            Settings.from_env()


def test_the_local_workflow_leaves_the_environment_as_it_found_it(served, monkeypatch):
    """Handlers get their endpoint, classes and threshold as arguments: nothing is put into os.environ."""
    import os

    from scones.serving.run import build_server
    from scones.workflow.classify import classify_images
    from tests import support

    for name in ("THRESHOLD", "ENDPOINT_NAME", "CLASSES", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    server, _ = build_server(served, "scones-endpoint", port=0, log=lambda line: None)
    import threading

    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        before = dict(os.environ)
        report = classify_images([("a.png", support.random_png(seed=1))], server.url,
                                 "scones-endpoint", ["bicycle", "motorcycle"], 0.0)
        assert dict(os.environ) == before
    finally:
        server.shutdown()
        server.server_close()
        server.capture.close()
    assert report.results[0].status == "passed"

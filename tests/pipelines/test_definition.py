import json

import pytest

from processing.evaluate import ACCURACY_JSON_PATH


@pytest.fixture(scope="module")
def definition():
    from scones.engine.local_run import render_definition

    name, document = render_definition()
    assert name == "SconesPipeline"
    return document


def _steps(definition):
    steps = {}
    for step in definition["Steps"]:
        steps[step["Name"]] = step
        for child in step.get("Arguments", {}).get("IfSteps", []) + step.get("Arguments", {}).get("ElseSteps", []):
            steps[child["Name"]] = child
    return steps


def test_definition_renders_with_no_network_call(no_network):
    from scones.engine.local_run import render_definition

    render_definition(default_bucket="some-bucket", pipeline_name="Offline")
    assert no_network == []


def test_definition_has_the_steps_in_order(definition):
    steps = _steps(definition)
    assert {name: step["Type"] for name, step in steps.items()} == {
        "EtlCifar": "Processing", "CheckImages": "Processing", "TrainModel": "Training",
        "EvaluateModel": "Processing", "CheckAccuracy": "Condition",
        "RegisterModel-RegisterModel": "RegisterModel", "AccuracyBelowThreshold": "Fail",
    }
    assert "Steps.EtlCifar" in json.dumps(steps["CheckImages"])
    assert "Steps.CheckImages" in json.dumps(steps["TrainModel"])


def test_definition_declares_the_parameters(definition):
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    for name in ("InputDataUrl", "ProcessingInstanceType", "ProcessingInstanceCount", "TrainingInstanceType",
                 "TrainingInstanceCount", "Epochs", "LearningRate", "AccuracyThreshold", "ModelApprovalStatus"):
        assert name in parameters
    assert parameters["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"
    assert parameters["LearningRate"]["Type"] == "Float"


def test_condition_reads_the_accuracy_from_the_property_file(definition):
    steps = _steps(definition)
    condition = steps["CheckAccuracy"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == ACCURACY_JSON_PATH
    assert condition["RightValue"] == {"Get": "Parameters.AccuracyThreshold"}
    assert steps["EvaluateModel"]["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}]
    fail_message = json.dumps(steps["AccuracyBelowThreshold"]["Arguments"]["ErrorMessage"])
    assert ACCURACY_JSON_PATH in fail_message and "Parameters.AccuracyThreshold" in fail_message


def test_registration_points_at_the_model_and_its_evaluation(definition):
    register = _steps(definition)["RegisterModel-RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == "SconesModels"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    assert "pytorch-inference" in container["Image"]
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert "evaluation.json" in json.dumps(statistics["S3Uri"])


def test_step_code_is_referenced_by_content_addressed_s3_uri(definition):
    from pipelines.cifar.pipeline import get_step_code

    code = get_step_code()
    etl = _steps(definition)["EtlCifar"]["Arguments"]
    code_input = next(i for i in etl["ProcessingInputs"] if i["InputName"] == "code")
    assert code_input["S3Input"]["S3Uri"] == code.uri("etl.pyz")
    assert get_step_code().prefix == code.prefix, "packaging is deterministic"
    hyper = _steps(definition)["TrainModel"]["Arguments"]["HyperParameters"]
    assert json.loads(hyper["sagemaker_submit_directory"]) == code.uri("sourcedir.tar.gz")


def test_training_reads_metrics_with_the_scripts_regexes(definition):
    from training.train import METRIC_DEFINITIONS

    spec = _steps(definition)["TrainModel"]["Arguments"]["AlgorithmSpecification"]
    assert spec["MetricDefinitions"] == METRIC_DEFINITIONS


def test_sdk_private_telemetry_hook_still_exists():
    """pipelines.sdk replaces this function; if the SDK moves it, this must fail loudly."""
    from sagemaker.telemetry import telemetry_logging

    from pipelines.sdk import disable_sdk_telemetry

    assert hasattr(telemetry_logging, "_send_telemetry_request")
    assert disable_sdk_telemetry()
    assert telemetry_logging._send_telemetry_request(1, [1], None) is None


def test_get_pipeline_definition_cli_writes_json(tmp_path):
    from pipelines import get_pipeline_definition

    target = tmp_path / "definition.json"
    code = get_pipeline_definition.main(["-n", "pipelines.cifar.pipeline", "-f", str(target),
                                         "--kwargs", '{"pipeline_name": "FromSeedCode"}'])
    assert code == 0
    assert json.loads(target.read_text())["Version"] == "2020-12-01"


def test_get_pipeline_definition_rejects_unknown_kwargs(capsys):
    from pipelines import get_pipeline_definition

    assert get_pipeline_definition.main(["--kwargs", '{"no_such_arg": 1}']) == 2
    assert "no_such_arg" in capsys.readouterr().err


def test_debugger_and_profiler_rules_can_be_switched_on(no_network):
    from scones.engine.local_run import render_definition

    _, document = render_definition(debugger_rules=True)
    train = next(s for s in document["Steps"] if s["Name"] == "TrainModel")["Arguments"]
    assert no_network == []
    assert [r["RuleConfigurationName"] for r in train["DebugRuleConfigurations"]] == [
        "Overfit", "Overtraining", "VanishingGradient", "PoorWeightInitialization", "LossNotDecreasing"]
    assert [r["RuleConfigurationName"] for r in train["ProfilerRuleConfigurations"]] == [
        "LowGPUUtilization", "CPUBottleneck", "ProfilerReport"]
    plain = next(s for s in _steps(render_definition()[1]).values() if s["Name"] == "TrainModel")["Arguments"]
    assert "DebugRuleConfigurations" not in plain


def test_initial_weights_become_a_training_channel():
    from scones.engine.local_run import render_definition

    _, document = render_definition(initial_weights_uri="s3://scones-local/weights/backbone.pt", freeze_backbone=True)
    train = next(s for s in document["Steps"] if s["Name"] == "TrainModel")["Arguments"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in train["InputDataConfig"]}
    assert channels["weights"] == "s3://scones-local/weights/backbone.pt"
    assert json.loads(train["HyperParameters"]["freeze-backbone"]) == "true"


def test_image_size_and_flip_flow_from_parameters_to_the_steps(no_network):
    """ImageSize reaches the ETL (which writes dataset.json for the later steps); HorizontalFlip the trainer."""
    from scones.engine.local_run import render_definition

    _, document = render_definition()
    parameters = {p["Name"]: p for p in document["Parameters"]}
    assert parameters["ImageSize"]["DefaultValue"] == 0 and parameters["HorizontalFlip"]["DefaultValue"] == "auto"
    steps = _steps(document)
    etl = steps["EtlCifar"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert etl[etl.index("--image-size") + 1] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.ImageSize"}]}}
    hyperparameters = steps["TrainModel"]["Arguments"]["HyperParameters"]
    assert hyperparameters["horizontal-flip"] == {"Get": "Parameters.HorizontalFlip"}
    assert no_network == []


def test_the_tuning_and_debugger_variants_render_the_same_document_every_time():
    """Issue 23: a render-time timestamp in StaticHyperParameters made every upsert a new version."""
    import time

    from scones.engine.local_run import render_definition

    first = render_definition("pipelines.cifar.pipeline", tuning=True)[1]
    time.sleep(0.01)  # the SDK's job-name timestamp has millisecond resolution
    second = render_definition("pipelines.cifar.pipeline", tuning=True)[1]
    assert first == second
    tuning = next(s for s in first["Steps"] if s["Type"] == "Tuning")["Arguments"]
    assert tuning["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_job_name"] == '"scones-train"'
    _, debug = render_definition("pipelines.cifar.pipeline", debugger_rules=True)
    hook = next(s for s in debug["Steps"] if s["Name"] == "TrainModel")["Arguments"]["DebugHookConfig"]
    names = [c["CollectionName"] for c in hook["CollectionConfigurations"]]
    assert names == sorted(names), "not in hash-seed order"


def test_tuning_with_debugger_rules_is_refused_by_name_not_dropped():
    from scones.engine.local_run import render_definition
    from scones.errors import InvalidInput

    with pytest.raises(InvalidInput, match="debugger_rules cannot be combined with tuning"):
        render_definition("pipelines.cifar.pipeline", tuning=True, debugger_rules=True)

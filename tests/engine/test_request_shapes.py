"""The engine refuses what SageMaker refuses: each step's resolved request checked against botocore's model
of the SageMaker API (issue 23's table), before any job runs."""

import copy
import json

import pytest

from scones import cli
from scones.engine.request_shapes import step_request_errors
from scones.errors import InvalidInput


@pytest.fixture(scope="module")
def steps():
    from scones.engine.local_run import definition_cache, render_cached

    _, definition, _ = render_cached("pipelines.cifar.pipeline", {}, definition_cache())
    found = {}

    def walk(items):
        for step in items:
            found[step["Name"]] = step
            walk(step.get("Arguments", {}).get("IfSteps", []) if step["Type"] == "Condition" else [])

    walk(definition["Steps"])
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    return found, parameters


def _resolved(step: dict, parameters: dict, **overrides) -> dict:
    """The step's arguments with parameters in (Std:Join of them as SageMaker joins), other references dummied."""
    values = {**parameters, **overrides}

    def resolve(value):
        if isinstance(value, dict) and "Get" in value:
            kind, _, name = value["Get"].partition(".")
            return values[name] if kind == "Parameters" else "s3://bucket/resolved"
        if isinstance(value, dict) and "Std:Join" in value:
            join = value["Std:Join"]
            return join["On"].join(str(resolve(v)) for v in join["Values"])
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return resolve(copy.deepcopy(step["Arguments"]))


def test_every_rendered_step_is_a_request_sagemaker_accepts(steps):
    found, parameters = steps
    for name, step in found.items():
        assert step_request_errors(step["Type"], _resolved(step, parameters)) == [], name


@pytest.mark.parametrize("change, says", [
    (lambda a: a.update(ProcesingResources=a.pop("ProcessingResources")),
     'Unknown parameter in input: "ProcesingResources"'),
    (lambda a: a["ProcessingResources"]["ClusterConfig"].update(InstanceCount=0), "valid min value: 1"),
    (lambda a: a["ProcessingResources"]["ClusterConfig"].update(InstanceCount=101), "less than or equal to 100"),
    (lambda a: a["ProcessingResources"]["ClusterConfig"].update(InstanceType="ml.m5.huge"),
     "Value 'ml.m5.huge' at 'ProcessingResources.ClusterConfig.InstanceType' failed to satisfy constraint"),
    (lambda a: a["AppSpecification"]["ContainerArguments"].append(32), "ContainerArguments[10], value: 32"),
])
def test_what_sagemaker_refuses_in_a_processing_step(steps, change, says):
    found, parameters = steps
    arguments = _resolved(found["EtlCifar"], parameters)
    assert step_request_errors("Processing", arguments) == []
    change(arguments)
    assert any(says in error for error in step_request_errors("Processing", arguments)), \
        step_request_errors("Processing", arguments)


def test_a_float_in_hyperparameters_and_a_bogus_approval_status_are_refused(steps):
    found, parameters = steps
    training = _resolved(found["TrainModel"], parameters)
    training["HyperParameters"]["learning-rate"] = 0.01  # a Float parameter put straight in, not joined
    assert any("HyperParameters.learning-rate, value: 0.01" in e for e in step_request_errors("Training", training))
    register = next(s for n, s in found.items() if s["Type"] == "RegisterModel")
    bogus = _resolved(register, parameters, ModelApprovalStatus="Bogus")
    assert any("Value 'Bogus' at 'ModelApprovalStatus'" in e for e in step_request_errors("RegisterModel", bogus))


def test_a_start_parameter_sagemaker_refuses_fails_the_first_step_with_its_message(workspace, tiny_archive, capsys):
    code = cli.main(["pipeline", "run", "--input", str(tiny_archive), "-p", "ProcessingInstanceCount=0"])
    assert code == 1
    out = capsys.readouterr().out
    assert "ValidationException (CreateProcessingJob)" in out and "valid min value: 1" in out
    from scones.engine.records import list_executions

    [record] = list_executions(workspace.workspace.runs)
    assert record.step("EtlCifar").status == "Failed" and record.step("TrainModel").status == "NotExecuted"
    assert json.dumps(record.parameters)  # the record is intact


def test_a_training_steps_properties_answer_every_path_describe_training_job_has():
    """Issue 23: ResourceConfig, InputDataConfig, RoleArn and StoppingCondition resolve, as in SageMaker."""
    from scones.engine.request_shapes import echoed

    request = {"RoleArn": "arn:aws:iam::0:role/r", "ResourceConfig": {"InstanceCount": 2},
               "InputDataConfig": [{"ChannelName": "train"}], "StoppingCondition": {"MaxRuntimeInSeconds": 60},
               "Tags": [{"Key": "a", "Value": "b"}]}
    shown = echoed("DescribeTrainingJob", request)
    assert set(shown) == {"RoleArn", "ResourceConfig", "InputDataConfig", "StoppingCondition"}, \
        "Tags are not part of DescribeTrainingJob's answer"


def test_a_property_path_sagemakers_answer_lacks_is_refused_before_anything_runs(engine):
    from tests.engine.test_executor import UPPER, output_of, processing

    definition = {"Version": "2020-12-01", "Parameters": [],
                  "Steps": [processing("First", "s3://bkt/data"),
                            processing("Second", {"Get": "Steps.First.ProcessingOutputConfig.Outputs['out'].S3Output"
                                                         ".Bucket"})]}
    with pytest.raises(InvalidInput, match=r"ValidationException \(CreatePipeline\): step Second: "
                                           r"\{'Get': \"Steps.First.ProcessingOutputConfig.Outputs\['out'\].S3Output."
                                           r"Bucket\"\}: no property .* DescribeProcessingJob has no 'Bucket' in "):
        engine.start(definition, "P")
    assert not (engine.runs_dir / "P").exists()
    definition["Steps"][1] = processing("Second", output_of("First"), code=UPPER.replace("in.txt", "out.txt"))
    record = engine.start(definition, "P")
    assert record.status == "Succeeded", record.failure_reason


@pytest.mark.parametrize(("step", "tokens", "says"), [
    ({"Type": "Tuning"}, ["TrainingJobStatusCounters", "Failed"], "has no 'Failed' in"),
    ({"Type": "Tuning"}, ["TrainingJobStatusCounters", "NonRetryableError"], None),
    ({"Type": "Tuning"}, ["TrainingJobSummaries", 0, "TrainingJobName"], None),  # the SDK's get_top_model_s3_uri
    ({"Type": "Training"}, ["ResourceConfig", "InstanceCount"], None),
    ({"Type": "Training"}, ["ModelArtifacts", "S3ModelArtifacts", "x"], "has a string at"),
    ({"Type": "Model"}, ["ModelName"], None),
    ({"Type": "Transform"}, ["TransformOutput", "S3OutputPath"], None),
    ({"Type": "Lambda", "OutputParameters": [{"OutputName": "Url"}]}, ["OutputParameters", "Url"], None),
    ({"Type": "Lambda", "OutputParameters": [{"OutputName": "Url"}]}, ["OutputParameters", "Uri"], "declared"),
    ({"Type": "Condition"}, ["Outcome"], None),
    ({"Type": "Fail"}, ["ErrorMessage"], "a Fail step has no properties"),
])
def test_property_paths_follow_sagemakers_describe_answers(step, tokens, says):
    from scones.engine.request_shapes import property_path_error

    reason = property_path_error(step, tokens)
    assert reason is None if says is None else says in reason


@pytest.mark.parametrize(("module", "kwargs"), [
    ("pipelines.cifar.pipeline", {"tuning": True}),
    ("pipelines.cifar.pipeline", {"debugger_rules": True}),
    ("pipelines.cifar.pipeline", {"training_instance_type": "ml.g5.xlarge"}),
    ("pipelines.monitor.pipeline", {}),
    ("pipelines.batch.pipeline", {}),
], ids=["tuning", "debugger", "gpu", "monitor", "batch"])
def test_every_sdk_rendered_variant_is_accepted_whole(engine, module, kwargs):
    """Each step's request on botocore's shapes, each property reference on the Describe answers, each
    retry policy on the definition's rules: what SageMaker checks at CreatePipeline and at each step."""
    from scones.engine.local_run import definition_cache, render_cached

    _, definition, _ = render_cached(module, kwargs, definition_cache())
    found = {}

    def walk(items):
        for step in items:
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                walk(step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", []))

    walk(definition["Steps"])
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    for name, step in found.items():
        if step["Type"] != "Condition":
            assert step_request_errors(step["Type"], _resolved(step, parameters)) == [], name
    assert engine._runnable_graph(definition)  # references, retry policies, step types: nothing refused

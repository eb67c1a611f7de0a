"""The engine on small hand-written definitions: DAG, properties, conditions, Fail, caching, errors."""

import json

import pytest

from scones.engine.executor import build_graph, resolve_parameters
from scones.errors import InvalidInput, Unsupported

UPPER = ("import pathlib, sys; src, dst = sys.argv[1:3]; "
         "pathlib.Path(dst, 'out.txt').write_text(pathlib.Path(src, 'in.txt').read_text().upper()); "
         "print('processed', flush=True)")
FAIL = "import sys; print('about to fail'); print('boom: bad input', file=sys.stderr); sys.exit(3)"


def processing(name, source, code=UPPER, cache=False, output="out"):
    step = {
        "Name": name, "Type": "Processing",
        "Arguments": {
            "AppSpecification": {"ImageUri": "image", "ContainerEntrypoint": ["python3", "-c", code],
                                 "ContainerArguments": ["/opt/ml/processing/input", "/opt/ml/processing/output"]},
            "ProcessingInputs": [{"InputName": "in", "S3Input": {
                "S3Uri": source, "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
                "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": output, "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://bkt/runs", {"Get": "Execution.PipelineExecutionId"},
                                                               name]}},
                "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
            # what SageMaker requires of every processing job (the engine refuses what SageMaker would)
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            "RoleArn": "arn:aws:iam::000000000000:role/scones-local-execution",
        },
    }
    if cache:
        step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
    return step


def output_of(step):
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}


def two_steps(cache=False):
    return {"Version": "2020-12-01",
            "Parameters": [{"Name": "Source", "Type": "String", "DefaultValue": "s3://bkt/data"}],
            "Steps": [processing("First", {"Get": "Parameters.Source"}, cache=cache),
                      {**processing("Second", output_of("First"), code=UPPER.replace("in.txt", "out.txt"),
                                    cache=cache)}]}


def test_jobs_chain_through_step_properties(engine):
    record = engine.start(two_steps(), "P")
    assert record.status == "Succeeded", record.failure_reason
    uri = record.step("Second").properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert uri == f"s3://bkt/runs/{record.execution_id}/Second"
    assert engine.store.get_bytes(uri + "/out.txt") == b"HELLO"
    assert "processed" in open(record.step("First").log_path).read()


def test_a_failed_job_fails_the_execution_with_its_log_tail(engine):
    definition = two_steps()
    definition["Steps"][0] = processing("First", {"Get": "Parameters.Source"}, code=FAIL)
    record = engine.start(definition, "P")
    first, second = record.step("First"), record.step("Second")
    assert (record.status, first.status, second.status) == ("Failed", "Failed", "NotExecuted")
    assert "exited with code 3" in first.failure_reason
    assert first.log_tail[-2:] == ["about to fail", "boom: bad input"]
    saved = json.loads((engine.runs_dir / "P" / record.execution_id / "execution.json").read_text())
    assert saved["status"] == "Failed" and saved["steps"][0]["log_tail"][-1] == "boom: bad input"


def test_missing_input_data_is_a_clear_step_failure(engine):
    record = engine.start(two_steps(), "P", {"Source": "s3://bkt/nothing-here"})
    assert "no S3 objects found under s3://bkt/nothing-here" in record.step("First").failure_reason


def test_caching_reuses_outputs_until_the_input_changes(engine):
    first = engine.start(two_steps(cache=True), "P")
    again = engine.start(two_steps(cache=True), "P")
    assert [s.cached_from for s in again.steps] == [first.execution_id, first.execution_id]
    engine.store.put_bytes("s3://bkt/data/in.txt", b"changed")
    third = engine.start(two_steps(cache=True), "P")
    assert [s.cached_from for s in third.steps] == ["", ""]
    out = third.step("Second").properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert engine.store.get_bytes(out + "/out.txt") == b"CHANGED"


def test_steps_without_cache_config_always_run(engine):
    engine.start(two_steps(), "P")
    assert [s.cached_from for s in engine.start(two_steps(), "P").steps] == ["", ""]


def condition_definition(threshold):
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Threshold", "Type": "Float", "DefaultValue": threshold}],
        "Steps": [
            {**processing("Score", "s3://bkt/data", code="import json, sys, pathlib; "
                          "pathlib.Path(sys.argv[2], 'score.json').write_text(json.dumps({'a': {'b': 0.7}}))"),
             "PropertyFiles": [{"PropertyFileName": "Report", "OutputName": "out", "FilePath": "score.json"}]},
            {"Name": "Gate", "Type": "Condition", "Arguments": {
                "Conditions": [{"Type": "GreaterThanOrEqualTo",
                                "LeftValue": {"Std:JsonGet": {
                                    "PropertyFile": {"Get": "Steps.Score.PropertyFiles.Report"}, "Path": "a.b"}},
                                "RightValue": {"Get": "Parameters.Threshold"}}],
                "IfSteps": [{"Name": "Register", "Type": "RegisterModel", "Arguments": {
                    "ModelPackageGroupName": "G",
                    "InferenceSpecification": {"Containers": [{"Image": "img", "ModelDataUrl": "s3://bkt/m.tar.gz"}]},
                    "ModelApprovalStatus": "PendingManualApproval"}}],
                "ElseSteps": [{"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                    "On": " ", "Values": ["score", {"Std:JsonGet": {
                        "PropertyFile": {"Get": "Steps.Score.PropertyFiles.Report"}, "Path": "a.b"}},
                        "below", {"Get": "Parameters.Threshold"}]}}}}],
            }},
        ],
    }


def test_condition_true_runs_the_if_branch_and_registers(engine):
    record = engine.start(condition_definition(0.5), "P")
    assert record.status == "Succeeded"
    assert record.step("Gate").properties == {"Outcome": True}
    assert record.step("TooLow").status == "NotExecuted"
    assert [v.version for v in engine.registry.list_versions("G")] == [1]


def test_condition_false_runs_the_fail_step_with_its_message(engine):
    record = engine.start(condition_definition(0.9), "P")
    assert record.status == "Failed"
    assert record.step("TooLow").failure_reason == "score 0.7 below 0.9"
    assert record.step("Register").status == "NotExecuted"
    assert engine.registry.list_groups() == []


def test_graph_orders_by_dependencies_and_rejects_cycles():
    definition = two_steps()
    definition["Steps"].reverse()
    assert [n.name for n in build_graph(definition)] == ["First", "Second"]
    definition["Steps"][1]["DependsOn"] = ["Second"]
    with pytest.raises(InvalidInput, match="cycle"):
        build_graph(definition)


def test_unsupported_step_types_are_named(engine):
    with pytest.raises(Unsupported, match="'EMR'"):
        engine.start({"Steps": [{"Name": "X", "Type": "EMR", "Arguments": {}}]}, "P")


def test_parameters_are_typed_and_unknown_ones_refused():
    definition = {"Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 1},
                                 {"Name": "F", "Type": "Float", "DefaultValue": 0.5}]}
    assert resolve_parameters(definition, {"N": "3"}) == {"N": 3, "F": 0.5}
    with pytest.raises(InvalidInput, match="unknown pipeline parameter"):
        resolve_parameters(definition, {"Typo": 1})
    with pytest.raises(InvalidInput, match="must be Integer"):
        resolve_parameters(definition, {"N": "three"})


def test_a_job_past_its_stopping_condition_is_stopped_as_sagemaker_stops_it(engine):
    """StoppingCondition.MaxRuntimeInSeconds: the job is stopped and the step fails with MaxRuntimeExceeded."""
    import time

    step = processing("Slow", "s3://bkt/data", code="import time; print('working', flush=True); time.sleep(60)")
    step["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    started = time.monotonic()
    record = engine.start({"Version": "2020-12-01", "Parameters": [], "Steps": [step]}, "P")
    assert time.monotonic() - started < 20, "stopped, not waited for"
    assert record.status == "Failed"
    assert record.step("Slow").failure_reason.startswith(
        "MaxRuntimeExceeded: processing job") and "MaxRuntimeInSeconds of 1 s" in record.step("Slow").failure_reason
    assert "working" in record.step("Slow").log_tail


def test_a_value_outside_a_parameters_enum_values_is_refused_at_start():
    definition = {"Parameters": [{"Name": "T", "Type": "String", "DefaultValue": "ml.m5.xlarge",
                                  "EnumValues": ["ml.m5.xlarge", "ml.c5.xlarge"]}]}
    assert resolve_parameters(definition, {"T": "ml.c5.xlarge"}) == {"T": "ml.c5.xlarge"}
    with pytest.raises(InvalidInput, match=r"value 'ml.g5.xlarge' is not one of its EnumValues \[ml.m5.xlarge, "):
        resolve_parameters(definition, {"T": "ml.g5.xlarge"})


def test_a_gpu_training_type_at_start_is_refused_on_a_cpu_rendering_and_allowed_on_a_gpu_one():
    """The image and torchrun launcher are chosen at render time: the other kind at start would run wrongly."""
    from scones.engine.local_run import render_definition

    for rendered, refused, allowed in (("ml.m5.xlarge", "ml.g5.xlarge", "ml.c5.2xlarge"),
                                       ("ml.g5.xlarge", "ml.m5.xlarge", "ml.p3.2xlarge")):
        _, definition = render_definition(training_instance_type=rendered, default_bucket="b")
        assert resolve_parameters(definition, {"TrainingInstanceType": allowed})["TrainingInstanceType"] == allowed
        with pytest.raises(InvalidInput, match=r"TrainingInstanceType value .* render with get_pipeline's "
                                               r"arguments \(--kwargs\)"):
            resolve_parameters(definition, {"TrainingInstanceType": refused})

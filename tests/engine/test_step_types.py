"""Model, Transform and Lambda steps: what SageMaker's local mode refuses or lacks, run by the engine."""

import base64
import json
from pathlib import Path

import pytest

from scones.engine.transform_agent import RecordError, json_path

ROLE = "arn:aws:iam::000000000000:role/scones-local-execution"


def model_step(name="CreateScoringModel", data="s3://bkt/model/model.tar.gz"):
    return {"Name": name, "Type": "Model", "Arguments": {
        "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "pytorch-inference:2.6", "ModelDataUrl": data}}}


def transform_step(name="ScoreImages", source="s3://bkt/images", model="CreateScoringModel", **extra):
    arguments = {
        "ModelName": {"Get": f"Steps.{model}.ModelName"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                           "ContentType": "image/png", "SplitType": "None"},
        "TransformOutput": {"S3OutputPath": "s3://bkt/scored", "Accept": "application/json"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
    }
    for key, value in extra.items():
        arguments[key] = {**arguments.get(key, {}), **value} if isinstance(value, dict) else value
    return {"Name": name, "Type": "Transform", "Arguments": arguments}


def definition(*steps):
    return {"Version": "2020-12-01", "Parameters": [], "Steps": list(steps)}


def test_a_transform_scores_every_object_through_the_artifacts_own_handler(engine, served_artifact):
    images, reference = served_artifact
    record = engine.start(definition(model_step(), transform_step()), "Batch")
    assert record.status == "Succeeded", record.failure_reason
    model = record.step("CreateScoringModel").properties
    assert model["ModelName"].startswith("pipelines-") and model["PrimaryContainer"]["ModelDataUrl"].endswith(
        "model.tar.gz")  # DescribeModel's members, as a later step's Get reads them
    transform = record.step("ScoreImages").properties
    assert transform["TransformJobStatus"] == "Completed" and transform["ModelName"] == model["ModelName"]
    outputs = dict(engine.store.list("s3://bkt/scored"))
    assert len(outputs) == 6 and all(uri.endswith(".png.out") for uri in outputs)
    for index, path in enumerate(images):
        uri = f"s3://bkt/scored/{'sub/' if index % 2 else ''}{path.name}.out"
        assert json.loads(engine.store.get_bytes(uri)) == reference(path.read_bytes())
    assert record.step("ScoreImages").summary == "6 outputs"


def test_json_lines_are_split_joined_with_their_input_and_filtered(engine, served_artifact):
    images, reference = served_artifact
    lines = [json.dumps({"id": f"photo-{i}", "image_data": base64.b64encode(p.read_bytes()).decode()})
             for i, p in enumerate(images[:3])]
    engine.store.put_bytes("s3://bkt/lines/batch.jsonl", "\n".join(lines).encode() + b"\n")
    step = transform_step(source="s3://bkt/lines",
                          TransformInput={"ContentType": "application/json", "SplitType": "Line"},
                          TransformOutput={"AssembleWith": "Line"}, BatchStrategy="SingleRecord",
                          DataProcessing={"InputFilter": "$", "JoinSource": "Input",
                                          "OutputFilter": "$['id','SageMakerOutput']"})
    record = engine.start(definition(model_step(), step), "Batch")
    assert record.status == "Succeeded", record.failure_reason
    rows = [json.loads(line) for line in engine.store.get_bytes("s3://bkt/scored/batch.jsonl.out").splitlines()]
    assert [row["id"] for row in rows] == ["photo-0", "photo-1", "photo-2"]
    assert [row["SageMakerOutput"] for row in rows] == [reference(p.read_bytes()) for p in images[:3]]
    assert set(rows[0]) == {"id", "SageMakerOutput"}  # the output filter dropped the image


def test_a_record_the_handler_refuses_fails_the_job_naming_it(engine, served_artifact):
    engine.store.put_bytes("s3://bkt/images/zz-not-an-image.png", b"this is text, not a PNG")
    record = engine.start(definition(model_step(), transform_step()), "Batch")
    step = record.step("ScoreImages")
    assert (record.status, step.status) == ("Failed", "Failed")
    assert step.failure_reason.startswith("ClientError: zz-not-an-image.png record 1: the model container answered 4")
    assert "see the job log" in step.failure_reason


def test_a_model_name_sagemaker_does_not_know_is_refused_in_its_words(engine):
    step = transform_step()
    step["Arguments"]["ModelName"] = "no-such-model"
    record = engine.start(definition(step), "Batch")
    assert record.step("ScoreImages").failure_reason == (
        'ValidationException (CreateTransformJob): Could not find model "no-such-model".')


def test_transform_and_model_requests_are_checked_against_sagemakers_shapes(engine, served_artifact):
    bad = transform_step(TransformResources={"InstanceType": "ml.m5.huge"}, BatchStrategy="EveryRecord")
    record = engine.start(definition(model_step(), bad), "Batch")
    reason = record.step("ScoreImages").failure_reason
    assert reason.startswith("ValidationException (CreateTransformJob): 2 validation errors detected")
    assert "TransformResources.InstanceType" in reason and "BatchStrategy" in reason
    broken = model_step()
    broken["Arguments"]["PrimaryContainer"]["ModelDataURL"] = "s3://bkt/x"  # misspelt key
    record = engine.start(definition(broken), "Batch")
    assert "ValidationException (CreateModel)" in record.step("CreateScoringModel").failure_reason
    assert "ModelDataURL" in record.step("CreateScoringModel").failure_reason


def test_what_the_engine_does_not_run_is_refused_by_name(engine, served_artifact):
    step = transform_step(TransformInput={"SplitType": "RecordIO", "CompressionType": "Gzip"})
    record = engine.start(definition(model_step(), step), "Batch")
    reason = record.step("ScoreImages").failure_reason
    assert "TransformInput.SplitType RecordIO" in reason and "TransformInput.CompressionType Gzip" in reason


def test_two_instances_share_the_objects_and_write_one_output_set(engine, served_artifact):
    images, reference = served_artifact
    record = engine.start(definition(model_step(), transform_step(TransformResources={"InstanceCount": 2})),
                          "Batch")
    assert record.status == "Succeeded", record.failure_reason
    assert len(engine.store.list("s3://bkt/scored")) == 6
    folder = Path(record.folder) / "ScoreImages"
    for log in ("job.log", "job-algo-2.log"):  # each instance served its share, not every object
        assert "transform: 3 objects" in (folder / log).read_text()
    assert record.step("ScoreImages").summary == "6 outputs (on 2 instances)"


def test_json_path_follows_sagemakers_filter_subset():
    record = {"id": "a", "features": [1, 2, 3], "SageMakerOutput": [0.1, 0.9]}
    assert json_path(record, "$") == record
    assert json_path(record, "$.features[1:]") == [2, 3]
    assert json_path(record, "$.features[0,2]") == [1, 3]
    assert json_path(record, "$['id','SageMakerOutput']") == {"id": "a", "SageMakerOutput": [0.1, 0.9]}
    with pytest.raises(RecordError, match="has no 'label'"):
        json_path(record, "$.label")


# ---------------------------------------------------------------------------------------------- Lambda

def lambda_step(name="FindModel", function="arn:aws:lambda:us-east-1:123456789012:function:scones-find-model",
                outputs=(("ModelDataUrl", "String"), ("Version", "Integer"))):
    return {"Name": name, "Type": "Lambda", "Arguments": {"group": "scones", "wanted": {"Get": "Parameters.Want"}},
            "FunctionArn": function,
            "OutputParameters": [{"OutputName": n, "OutputType": t} for n, t in outputs]}


def lambda_definition():
    condition = {"Name": "IsThree", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.FindModel.OutputParameters['Version']"},
                        "RightValue": 3}],
        "IfSteps": [], "ElseSteps": [{"Name": "WrongVersion", "Type": "Fail",
                                      "Arguments": {"ErrorMessage": "not version 3"}}]}}
    return {"Version": "2020-12-01", "Parameters": [{"Name": "Want", "Type": "String", "DefaultValue": "newest"}],
            "Steps": [lambda_step(), condition]}


def test_a_lambda_step_calls_its_handler_and_later_steps_read_its_outputs(engine):
    events = []

    def find_model(event, context):
        events.append(event)
        return {"ModelDataUrl": "s3://bkt/model/model.tar.gz", "Version": "3", "extra": True}

    engine.functions = {"scones-find-model": find_model}
    record = engine.start(lambda_definition(), "P")
    assert record.status == "Succeeded", record.failure_reason
    assert events == [{"group": "scones", "wanted": "newest"}]
    assert record.step("FindModel").properties == {
        "OutputParameters": {"ModelDataUrl": "s3://bkt/model/model.tar.gz", "Version": 3}}
    assert record.step("WrongVersion").status == "NotExecuted"


@pytest.mark.parametrize(("functions", "reason"), [
    ({}, "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:"
         "scones-find-model"),
    ({"scones-find-model": lambda event, context: 1 / 0},
     "Lambda function scones-find-model failed: ZeroDivisionError: division by zero"),
    ({"scones-find-model": lambda event, context: {"ModelDataUrl": "s3://x"}},
     "Lambda function scones-find-model's result has no output parameter 'Version' (it returned ['ModelDataUrl'])"),
    ({"scones-find-model": lambda event, context: {"ModelDataUrl": "s3://x", "Version": "three"}},
     "output parameter 'Version': 'three' is not of type Integer"),
])
def test_a_failing_lambda_step_fails_the_execution_with_lambdas_reason(engine, functions, reason):
    engine.functions = functions
    record = engine.start(lambda_definition(), "P")
    assert (record.status, record.step("FindModel").status) == ("Failed", "Failed")
    assert record.step("FindModel").failure_reason.startswith(reason)

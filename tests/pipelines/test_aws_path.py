"""The AWS path against moto: code staged in S3, pipeline created, started, described."""

import datetime as dt
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from scones import pipeline_service

ROLE = "arn:aws:iam::123456789012:role/SconesPipelineRole"
KWARGS = {"region": "us-east-1", "role": ROLE, "default_bucket": "scones-bucket", "pipeline_name": "SconesAws",
          "model_package_group_name": "SconesModels", "base_job_prefix": "scones"}


@pytest.fixture
def aws():
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="scones-bucket")
        yield boto3.client("sagemaker", region_name="us-east-1")


def test_run_pipeline_seed_code_command_line(aws, capsys):
    from scones import run_pipeline

    code = run_pipeline.main(["--module-name", "pipelines.cifar.pipeline", "--role-arn", ROLE,
                              "--tags", '[{"Key": "sagemaker:project-name", "Value": "scones"}]',
                              "--kwargs", json.dumps(KWARGS), "--poll-seconds", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    pipeline = aws.describe_pipeline(PipelineName="SconesAws")
    definition = json.loads(pipeline["PipelineDefinition"])
    assert {s["Name"] for s in definition["Steps"]} >= {"EtlCifar", "TrainModel", "CheckAccuracy"}
    assert pipeline["RoleArn"] == ROLE
    executions = aws.list_pipeline_executions(PipelineName="SconesAws")["PipelineExecutionSummaries"]
    assert len(executions) == 1
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="scones-bucket")["Contents"]]
    code_keys = {k.rsplit("/", 1)[-1] for k in keys if "/code/" in k}
    assert code_keys == {"etl.pyz", "check.pyz", "evaluate.pyz", "summarize.pyz", "sourcedir.tar.gz", "monitor.pyz"}
    # SageMaker refuses a processing input with no objects: the reviewed-images prefix gets a placeholder
    assert set(keys) - {k for k in keys if "/code/" in k} == {f"{KWARGS['base_job_prefix']}/reviewed/README.txt"}
    assert "step code staged" in out and "Succeeded" in out


def test_upsert_twice_updates_in_place(aws):
    from pipelines._utils import get_pipeline_driver, get_step_code

    pipeline = get_pipeline_driver("pipelines.cifar.pipeline", KWARGS)
    code = get_step_code("pipelines.cifar.pipeline", KWARGS)
    first = pipeline_service.upsert(pipeline, ROLE, code)
    second = pipeline_service.upsert(pipeline, ROLE, code, description="v2")
    assert first == second
    assert aws.describe_pipeline(PipelineName="SconesAws")["PipelineDescription"] == "v2"


def test_start_passes_parameters_and_describe_reports_status(aws):
    from pipelines._utils import get_pipeline_driver

    pipeline = get_pipeline_driver("pipelines.cifar.pipeline", KWARGS)
    pipeline_service.upsert(pipeline, ROLE)
    arn = pipeline_service.start(aws, "SconesAws", {"Epochs": 3, "AccuracyThreshold": 0.9})
    status = pipeline_service.describe(aws, arn)
    assert status.status == "Succeeded"
    parameters = aws.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {"Epochs": "3", "AccuracyThreshold": "0.9"}


def test_wait_prints_each_step_as_its_status_changes():
    """moto has no ListPipelineExecutionSteps: botocore's Stubber stands in for that call only."""
    import io

    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with Stubber(client) as stub:
        for status, steps in (
            ("Executing", [{"StepName": "EtlCifar", "StepStatus": "Executing", "StartTime": start}]),
            ("Failed", [{"StepName": "EtlCifar", "StepStatus": "Succeeded", "StartTime": start,
                         "EndTime": start + dt.timedelta(seconds=42)},
                        {"StepName": "CheckImages", "StepStatus": "Failed", "StartTime": start,
                         "EndTime": start + dt.timedelta(seconds=50), "FailureReason": "too many bad images"}]),
        ):
            stub.add_response("describe_pipeline_execution",
                              {"PipelineExecutionArn": arn, "PipelineExecutionStatus": status,
                               **({"FailureReason": "Step CheckImages failed"} if status == "Failed" else {})})
            stub.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": steps})
        out = io.StringIO()
        result = pipeline_service.wait(client, arn, poll_seconds=0, stream=out, sleep=lambda s: None)
    lines = out.getvalue().splitlines()
    assert result.status == "Failed"
    assert lines[0].split()[:2] == ["EtlCifar", "Executing"]
    assert "42.0 s" in lines[1] and "too many bad images" in lines[2]
    assert lines[-1] == "execution abc Failed: Step CheckImages failed"


def test_buildspec_command_runs_against_moto(aws, monkeypatch, capsys):
    """The exact run-pipeline line of buildspec.yml, with CodeBuild's variables filled in."""
    import os
    import shlex

    import yaml

    from scones import run_pipeline

    spec = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "..", "buildspec.yml")))
    line = next(c for c in spec["phases"]["build"]["commands"] if "run-pipeline" in c)
    env = {"SAGEMAKER_PROJECT_NAME": "scones", "SAGEMAKER_PROJECT_ID": "p-123", "SAGEMAKER_PROJECT_ARN":
           "arn:aws:sagemaker:us-east-1:123456789012:project/scones", "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE,
           "ARTIFACT_BUCKET": "scones-bucket", "AWS_REGION": "us-east-1",
           "SAGEMAKER_PROJECT_NAME_ID": "scones-p-123"}
    expanded = line
    for name, value in env.items():
        expanded = expanded.replace("${" + name + "}", value)
    argv = shlex.split(expanded.replace("\\\n", " "))
    assert argv[0] == "run-pipeline"
    assert run_pipeline.main(argv[1:] + ["--poll-seconds", "0"]) == 0, capsys.readouterr().out
    assert aws.describe_pipeline(PipelineName="scones-p-123")["PipelineStatus"] == "Active"
    groups = json.loads(aws.describe_pipeline(PipelineName="scones-p-123")["PipelineDefinition"])
    assert "scones-p-123" in json.dumps(groups)


def test_buildspec_upserts_the_monitoring_pipeline_against_moto(aws, capsys):
    """The buildspec's monitor line, as CodeBuild runs it: the schedule's target exists, its code is in S3."""
    import os
    import shlex

    import yaml

    from scones import cli

    spec = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "..", "buildspec.yml")))
    line = next(c for c in spec["phases"]["build"]["commands"] if "pipelines.monitor.pipeline" in c)
    env = {"SAGEMAKER_PROJECT_NAME": "scones", "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE, "ARTIFACT_BUCKET": "scones-bucket",
           "AWS_REGION": "us-east-1", "SAGEMAKER_PROJECT_NAME_ID": "scones-p1"}
    for name, value in env.items():
        line = line.replace("${" + name + "}", value)
    argv = shlex.split(line.replace("\\\n", " "))
    assert argv[:3] == ["scones", "pipeline", "upsert"]
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="scones-bucket")
    assert cli.main(argv[1:]) == 0, capsys.readouterr()
    definition = json.loads(aws.describe_pipeline(PipelineName="scones-monitor")["PipelineDefinition"])
    [step] = definition["Steps"]
    assert step["Name"] == "CheckDrift"
    code = step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert code.startswith("s3://scones-bucket/scones-p1/code/") and code.endswith("/monitor.pyz")
    bucket, key = code[len("s3://"):].split("/", 1)
    assert boto3.client("s3", region_name="us-east-1").head_object(Bucket=bucket, Key=key)["ContentLength"] > 1000
    arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--group") + 1] == "scones-p1"


def test_scones_pipeline_upsert_and_start_commands(aws, capsys):
    from scones import cli

    kwargs = json.dumps(KWARGS)
    assert cli.main(["pipeline", "upsert", "--role-arn", ROLE, "--kwargs", kwargs,
                     "--tags", '[{"Key": "team", "Value": "scones"}]']) == 0
    assert "pipeline upserted: arn:aws:sagemaker:us-east-1:123456789012:pipeline/" in capsys.readouterr().out
    assert cli.main(["pipeline", "start", "--kwargs", kwargs, "-p", "Epochs=2", "--wait", "--poll-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "execution started:" in out and "Succeeded" in out
    executions = aws.list_pipeline_executions(PipelineName="SconesAws")["PipelineExecutionSummaries"]
    assert len(executions) == 1


def test_stop_retry_and_a_selective_start_send_the_requests_sagemaker_takes():
    """moto has no Stop/RetryPipelineExecution and ignores SelectiveExecutionConfig: botocore's Stubber
    checks each request against SageMaker's model instead."""
    from botocore.stub import ANY

    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"
    selective = {"SelectedSteps": [{"StepName": "TrainModel"}], "SourcePipelineExecutionArn": arn}
    with Stubber(client) as stub:
        stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": arn + "2"},
                          {"PipelineName": "p", "SelectiveExecutionConfig": selective,
                           "PipelineParameters": [{"Name": "Epochs", "Value": "3"}],
                           "ParallelismConfiguration": {"MaxParallelExecutionSteps": 2}})
        stub.add_response("stop_pipeline_execution", {"PipelineExecutionArn": arn},
                          {"PipelineExecutionArn": arn, "ClientRequestToken": ANY})
        stub.add_response("stop_pipeline_execution", {"PipelineExecutionArn": arn},
                          {"PipelineExecutionArn": arn, "ClientRequestToken": ANY})
        stub.add_response("retry_pipeline_execution", {"PipelineExecutionArn": arn},
                          {"PipelineExecutionArn": arn, "ClientRequestToken": ANY})
        assert pipeline_service.start(client, "p", {"Epochs": 3}, selective=selective,
                                      max_parallel_steps=2) == arn + "2"
        pipeline_service.stop(client, arn)
        pipeline_service.stop(client, arn)
        assert pipeline_service.retry(client, arn) == arn
        stub.assert_no_pending_responses()
    assert pipeline_service._token(arn) == pipeline_service._token(arn) != pipeline_service._token(arn + "2")


def test_the_batch_pipeline_is_upserted_and_started_with_its_model_and_images(aws, capsys):
    from scones import cli

    kwargs = json.dumps({**KWARGS, "pipeline_name": "SconesBatchAws"})
    assert cli.main(["pipeline", "upsert", "--module", "pipelines.batch.pipeline", "--role-arn", ROLE,
                     "--kwargs", kwargs]) == 0
    definition = json.loads(aws.describe_pipeline(PipelineName="SconesBatchAws")["PipelineDefinition"])
    assert [s["Type"] for s in definition["Steps"]] == ["Model", "Transform", "Processing"]
    keys = {o["Key"].rsplit("/", 1)[-1] for o in
            boto3.client("s3").list_objects_v2(Bucket="scones-bucket")["Contents"]}
    assert "summarize.pyz" in keys  # the summary step's code is staged with the upsert
    assert cli.main(["pipeline", "start", "--module", "pipelines.batch.pipeline", "--kwargs", kwargs,
                     "-p", "ModelDataUrl=s3://scones-bucket/models/v3/model.tar.gz",
                     "-p", "InputDataUrl=s3://scones-bucket/incoming/", "--max-parallel", "2"]) == 0
    [execution] = aws.list_pipeline_executions(PipelineName="SconesBatchAws")["PipelineExecutionSummaries"]
    parameters = aws.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineParameters"]
    assert {"Name": "ModelDataUrl", "Value": "s3://scones-bucket/models/v3/model.tar.gz"} in parameters

"""The scheduled drift check and the failure notifier, against moto: S3 capture, the Model Registry, SNS."""

import datetime as dt
import json
import subprocess
import sys
import sysconfig
import zipfile

import boto3
import numpy as np
import pytest
from moto import mock_aws

from common.capture import capture_record
from lambdas import notify_pipeline_failure
from scones import pipeline_service
from scones.monitor import job
from scones.notify import messages
from scones.registry.sagemaker import SageMakerRegistry

REGION = "us-east-1"
CLASSES = ["bicycle", "motorcycle"]
EVALUATION = {"evaluation": {"classes": CLASSES, "predicted_counts": {"bicycle": 50, "motorcycle": 50},
                             "top_confidences": list(np.linspace(0.9, 1.0, 100))},
              "multiclass_classification_metrics": {"accuracy": {"value": 0.95}}}


@pytest.fixture
def aws():
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in ("s3", "sagemaker", "sns", "sqs")}
        clients["s3"].create_bucket(Bucket="bkt")
        topic = clients["sns"].create_topic(Name="notify")["TopicArn"]
        queue = clients["sqs"].create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield clients, topic, queue


def _inbox(clients, queue) -> list[dict]:
    messages_ = clients["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages_]
    return [{"subject": b["Subject"], "message": json.loads(b["Message"])} for b in bodies]


def _register_approved(clients) -> SageMakerRegistry:
    """As the pipeline's RegisterModel step does: ModelMetrics point at evaluation.json in S3."""
    clients["s3"].put_object(Bucket="bkt", Key="eval/evaluation.json", Body=json.dumps(EVALUATION).encode())
    sagemaker = clients["sagemaker"]
    sagemaker.create_model_package_group(ModelPackageGroupName="Scones")
    sagemaker.create_model_package(
        ModelPackageGroupName="Scones", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": "s3://bkt/model.tar.gz"}],
                                "SupportedContentTypes": ["image/png"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": "s3://bkt/eval/evaluation.json"}}})
    return SageMakerRegistry(sagemaker, clients["s3"])


def _capture(clients, rows, version="1"):
    now = dt.datetime.now(dt.UTC)
    lines = [json.dumps(capture_record("image/png", b"x", "application/json", json.dumps(row).encode(),
                                       now - dt.timedelta(minutes=i), {"modelVersion": version}))
             for i, row in enumerate(rows)]
    key = now.strftime("datacapture/scones-endpoint/AllTraffic/%Y/%m/%d/%H/part.jsonl")
    clients["s3"].put_object(Bucket="bkt", Key=key, Body="\n".join(lines).encode())


def _argv(topic, tmp_path, retrain="none"):
    return ["--capture", "s3://bkt/datacapture/scones-endpoint", "--group", "Scones", "--threshold", "0.93",
            "--topic-arn", topic, "--retrain-pipeline", retrain, "--output", str(tmp_path / "report")]


def test_drifted_capture_alerts_once_and_starts_the_training_pipeline(aws, tmp_path):
    clients, topic, queue = aws
    _register_approved(clients)
    _capture(clients, [[0.999, 0.001]] * 60)  # all bicycle, all sure: not what evaluation looked like
    clients["sagemaker"].create_pipeline(PipelineName="scones-p1", RoleArn="arn:aws:iam::123456789012:role/r",
                                         PipelineDefinition='{"Version": "2020-12-01", "Steps": []}')
    assert job.main(_argv(topic, tmp_path, retrain="scones-p1"), clients) == 0
    [alert] = _inbox(clients, queue)
    assert alert["message"]["kind"] == "drift"
    assert alert["subject"].startswith("drift in live traffic vs the evaluation of v1")
    assert {t["name"] for t in alert["message"]["tests"]} == {"class mix", "top-class confidence"}
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["by_version"]["1"]["verdict"] == "drift" and report["predictions"] == 60
    executions = clients["sagemaker"].list_pipeline_executions(PipelineName="scones-p1")
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_traffic_like_the_evaluation_alerts_no_one_and_starts_nothing(aws, tmp_path):
    clients, topic, queue = aws
    _register_approved(clients)
    _capture(clients, [[p, 1 - p] if i % 2 else [1 - p, p] for i, p in enumerate(np.linspace(0.9, 1.0, 60))])
    assert job.main(_argv(topic, tmp_path), clients) == 0
    assert _inbox(clients, queue) == []
    assert json.loads((tmp_path / "report" / "report.json").read_text())["verdict"] == "ok"


def test_failure_notifier_names_the_step_the_reason_and_the_logs(aws):
    clients, topic, queue = aws
    sagemaker = clients["sagemaker"]
    sagemaker.create_pipeline(PipelineName="scones-p1", RoleArn="arn:aws:iam::123456789012:role/r",
                              PipelineDefinition='{"Version": "2020-12-01", "Steps": []}')
    arn = sagemaker.start_pipeline_execution(PipelineName="scones-p1")["PipelineExecutionArn"]
    event = {"detail-type": notify_pipeline_failure.DETAIL_TYPE, "source": "aws.sagemaker",
             "detail": {"currentPipelineExecutionStatus": "Failed", "pipelineExecutionArn": arn,
                        "pipelineArn": arn.split("/execution/")[0]}}
    from scones.notify import SnsNotifier

    notifier = SnsNotifier(topic, clients["sns"])
    result = notify_pipeline_failure.notify(event, sagemaker, notifier)
    [message] = _inbox(clients, queue)
    assert message["message"]["kind"] == "pipeline_failed" and message["subject"] == result["notified"]
    assert message["message"]["pipeline"] == "scones-p1"
    assert message["message"]["see"] == f"scones pipeline status {arn}"
    succeeded = {**event, "detail": {**event["detail"], "currentPipelineExecutionStatus": "Succeeded"}}
    assert "ignored" in notify_pipeline_failure.notify(succeeded, sagemaker, notifier)
    with pytest.raises(notify_pipeline_failure.InvalidFailureEvent):
        notify_pipeline_failure.notify({"detail": {}}, sagemaker, notifier)


def test_sagemaker_failure_message_points_at_the_failed_jobs_log_stream():
    job_arn = "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-abc-checkimages"
    status = pipeline_service.ExecutionStatus(
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/scones-p1/execution/abc", "Failed", "Step failed",
        [{"StepName": "EtlCifar", "StepStatus": "Succeeded"},
         {"StepName": "CheckImages", "StepStatus": "Failed", "FailureReason": "12 of 40 images are bad",
          "Metadata": {"ProcessingJob": {"Arn": job_arn}}}])
    subject, message = messages.pipeline_failed_in_sagemaker(status)
    assert subject == "pipeline scones-p1 failed at CheckImages: abc"
    assert message["reason"] == "12 of 40 images are bad"
    assert message["logs"] == ("aws logs tail /aws/sagemaker/ProcessingJobs --log-stream-name-prefix "
                               "pipelines-abc-checkimages")


def test_the_monitor_zipapp_runs_on_its_own_modules(tmp_path):
    """The processing job gets monitor.pyz only: every module the job imports must be inside it."""
    from pipelines.step_code import MONITOR_APP, build_step_code

    app = tmp_path / MONITOR_APP
    app.write_bytes(build_step_code("bkt", "scones").files[MONITOR_APP])
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import scones.monitor.job, scones.registry.sagemaker, "
            "scones.store.s3, scones.notify.messages, scones.pipeline_service, scones.registry.comparison; "
            "print(scones.monitor.job.__file__)")
    # -S: no site, so the editable install of this repo cannot fill in a module the zip lacks
    site_packages = sysconfig.get_paths()["purelib"]
    result = subprocess.run([sys.executable, "-S", "-c", code, str(app)], capture_output=True, text=True,
                            env={"PYTHONPATH": site_packages, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{app}/scones/monitor/job.py"
    with zipfile.ZipFile(app) as contents:
        assert "__main__.py" in contents.namelist()
    help_text = subprocess.run([sys.executable, "-S", str(app), "--help"], capture_output=True, text=True,
                               env={"PYTHONPATH": site_packages, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert help_text.returncode == 0 and "--capture" in help_text.stdout

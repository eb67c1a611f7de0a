"""The monitoring pipeline: one processing job that runs the drift check on the endpoint's data capture.

The template's schedule (EventBridge, default daily) starts it; the job reads the
last ``Hours`` of capture under ``CaptureUri``, compares each model version's
traffic with its own ``evaluation.json`` from the Model Registry, writes
``report.json`` (and the plot) to S3, alerts through SNS on drift and, when
``RetrainPipeline`` names a pipeline, starts it. The code is ``scones.monitor``,
the same the laptop's ``scones monitor report`` runs (packaged as ``monitor.pyz``).

    scones pipeline upsert --module pipelines.monitor.pipeline --role-arn ARN \\
        --kwargs '{"default_bucket": "my-bucket", "notify_topic_arn": "arn:aws:sns:..."}'
"""

from __future__ import annotations

from sagemaker.processing import ProcessingOutput, ScriptProcessor
from sagemaker.workflow.parameters import ParameterFloat, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.steps import ProcessingStep

from common import defaults
from pipelines.cifar.pipeline import framework_image, get_step_code, pipeline_context

#: What a pipeline module offers its drivers: the pipeline, and the step code to stage before it runs.
__all__ = ["get_pipeline", "get_step_code"]
from pipelines.step_code import MONITOR_APP


def get_pipeline(
    region: str = "us-east-1",
    role: str | None = None,
    default_bucket: str | None = None,
    model_package_group_name: str = defaults.MODEL_PACKAGE_GROUP,
    pipeline_name: str = defaults.MONITOR_PIPELINE_NAME,
    base_job_prefix: str = defaults.BASE_PREFIX,
    endpoint_name: str = defaults.ENDPOINT_NAME,
    notify_topic_arn: str = "",
    retrain_pipeline: str = defaults.NO_RETRAIN,
    instance_type: str = "ml.m5.large",
    sagemaker_session=None,
    **_ignored,
) -> Pipeline:
    """Build the monitoring pipeline; like the training pipeline, a bare call renders offline."""
    role, session, code, prefix = pipeline_context(region, role, default_bucket, base_job_prefix, sagemaker_session)

    capture_uri = ParameterString("CaptureUri", default_value=f"{prefix}/datacapture/{endpoint_name}")
    hours = ParameterFloat("Hours", default_value=24.0)
    threshold = ParameterFloat("ConfidenceThreshold", default_value=defaults.CONFIDENCE_THRESHOLD)
    topic = ParameterString("NotifyTopicArn", default_value=notify_topic_arn)
    retrain = ParameterString("RetrainPipeline", default_value=retrain_pipeline)  # "none": alert only

    processor = ScriptProcessor(
        # the training steps' PyTorch image (Python 3.12 with numpy, pandas, scipy, boto3), CPU
        image_uri=framework_image(region, "training", instance_type),
        command=["python3"], role=role, instance_type=instance_type, instance_count=1,
        base_job_name=f"{base_job_prefix}-monitor", sagemaker_session=session)
    step = ProcessingStep(
        name="CheckDrift",
        step_args=processor.run(
            code=code.uri(MONITOR_APP),
            outputs=[ProcessingOutput(output_name="report", source="/opt/ml/processing/report",
                                      destination=f"{prefix}/monitoring/reports")],
            arguments=["--capture", capture_uri, "--group", model_package_group_name, "--hours", hours.to_string(),
                       "--threshold", threshold.to_string(), "--topic-arn", topic, "--retrain-pipeline", retrain,
                       "--output", "/opt/ml/processing/report"],
        ),
    )
    return Pipeline(name=pipeline_name, parameters=[capture_uri, hours, threshold, topic, retrain], steps=[step],
                    sagemaker_session=session)

"""Batch scoring pipeline: score a prefix of images with an approved model version.

::

    CreateScoringModel -> ScoreImages -> SummarizeScores

- CreateScoringModel: a SageMaker model (CreateModel) serving ``ModelDataUrl`` with the artifact's
  own ``code/inference.py`` in the PyTorch inference image, as the endpoint does.
- ScoreImages: a batch transform over every object under ``InputDataUrl``, one image a request;
  each image's probabilities land at ``<output>/<image key>.out``.
- SummarizeScores: ``predictions.csv``, ``summary.json`` and ``review.jsonl`` (the images below
  ``ConfidenceThreshold``) from those outputs (``processing/batch_summary.py``).

``scones batch run --input FOLDER`` fills ``ModelDataUrl`` with the newest approved version, runs
this definition on this machine and sends ``review.jsonl`` on to human review; in AWS the same
definition is upserted and started with ``scones pipeline upsert/start --module pipelines.batch.pipeline``.
"""

from __future__ import annotations

from sagemaker.model import Model
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.transformer import Transformer
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.steps import ProcessingStep, TransformStep

from common import defaults
from pipelines.cifar.pipeline import framework_image, get_step_code, pipeline_context

#: What a pipeline module offers its drivers: the pipeline, and the step code to stage before it runs.
__all__ = ["get_pipeline", "get_step_code"]

#: The serving contract of the artifact (training/artifact.py): the container imports code/inference.py.
SERVING_ENV = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
SUMMARY_OUTPUT = "summary"


def get_pipeline(
    region: str = "us-east-1",
    role: str | None = None,
    default_bucket: str | None = None,
    model_package_group_name: str = defaults.MODEL_PACKAGE_GROUP,
    pipeline_name: str = defaults.BATCH_PIPELINE_NAME,
    base_job_prefix: str = defaults.BASE_PREFIX,
    instance_type: str = "ml.m5.xlarge",
    sagemaker_session=None,
    **_ignored,
) -> Pipeline:
    """Build the batch scoring pipeline; a bare call renders offline, as the training pipeline does."""
    role, session, code, prefix = pipeline_context(region, role, default_bucket, base_job_prefix, sagemaker_session)

    model_data = ParameterString("ModelDataUrl", default_value=f"{prefix}/batch/model/model.tar.gz")
    input_data = ParameterString("InputDataUrl", default_value=f"{prefix}/batch/input")
    threshold = ParameterFloat("ConfidenceThreshold", default_value=defaults.CONFIDENCE_THRESHOLD)
    instance_kind = ParameterString("TransformInstanceType", default_value=instance_type)
    instance_count = ParameterInteger("TransformInstanceCount", default_value=1)
    run_prefix = [f"{prefix}/batch", ExecutionVariables.PIPELINE_EXECUTION_ID]

    model = Model(image_uri=framework_image(region, "inference", instance_type), model_data=model_data, role=role,
                  env=SERVING_ENV, sagemaker_session=session)
    step_model = ModelStep(name="CreateScoringModel", step_args=model.create(instance_type=instance_type))

    transformer = Transformer(
        model_name=step_model.properties.ModelName, instance_type=instance_kind, instance_count=instance_count,
        output_path=Join(on="/", values=[*run_prefix, "predictions"]), accept=defaults.JSON_CONTENT_TYPE,
        strategy="SingleRecord", max_concurrent_transforms=2, base_transform_job_name=f"{base_job_prefix}-batch",
        sagemaker_session=session)
    step_score = TransformStep(name="ScoreImages", step_args=transformer.transform(
        data=input_data, content_type="application/x-image", split_type="None"))

    processor = ScriptProcessor(
        image_uri=framework_image(region, "training", "ml.m5.large"), command=["python3"], role=role,
        instance_type="ml.m5.large", instance_count=1, base_job_name=f"{base_job_prefix}-batch-summary",
        sagemaker_session=session)
    step_summary = ProcessingStep(name="SummarizeScores", step_args=processor.run(
        code=code.uri("summarize.pyz"),
        inputs=[ProcessingInput(source=step_score.properties.TransformOutput.S3OutputPath,
                                destination="/opt/ml/processing/predictions"),
                ProcessingInput(source=model_data, destination="/opt/ml/processing/model")],
        outputs=[ProcessingOutput(output_name=SUMMARY_OUTPUT, source="/opt/ml/processing/summary",
                                  destination=Join(on="/", values=[*run_prefix, SUMMARY_OUTPUT]))],
        arguments=["--predictions", "/opt/ml/processing/predictions", "--model", "/opt/ml/processing/model",
                   "--output", "/opt/ml/processing/summary", "--threshold", threshold.to_string(),
                   "--source-uri", input_data],
    ))
    return Pipeline(name=pipeline_name,
                    parameters=[model_data, input_data, threshold, instance_kind, instance_count],
                    steps=[step_model, step_score, step_summary], sagemaker_session=session)

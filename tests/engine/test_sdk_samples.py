"""A pipeline the plain SDK renders -- Lambda -> ModelStep -> TransformStep, with a retry policy -- runs here as is."""

import json

import boto3
import pytest


@pytest.fixture(scope="module")
def sdk_definition():
    import warnings

    from sagemaker.lambda_helper import Lambda
    from sagemaker.model import Model
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.retry import SageMakerJobExceptionTypeEnum, SageMakerJobStepRetryPolicy
    from sagemaker.workflow.steps import TransformStep

    from pipelines.cifar.pipeline import get_session

    warnings.filterwarnings("ignore", message="Lambda function won't be updated")  # it names an existing one
    session = get_session("us-east-1", "bkt", offline=True)
    group = ParameterString("Group", default_value="scones")
    find = LambdaStep("FindModel", lambda_func=Lambda(
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:scones-find-model", session=session),
        inputs={"group": group}, outputs=[LambdaOutput("ModelDataUrl", LambdaOutputTypeEnum.String)])
    model = Model(image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
                  model_data=find.properties.Outputs["ModelDataUrl"],
                  role="arn:aws:iam::123456789012:role/r", sagemaker_session=session,
                  env={"SAGEMAKER_PROGRAM": "inference.py"})
    create = ModelStep("CreateScoringModel", step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=create.properties.ModelName, instance_type="ml.m5.large", instance_count=1,
                              output_path="s3://bkt/scored", accept="application/json", sagemaker_session=session)
    score = TransformStep("ScoreImages", step_args=transformer.transform(
        data="s3://bkt/images", content_type="image/png", split_type="None"),
        retry_policies=[SageMakerJobStepRetryPolicy([SageMakerJobExceptionTypeEnum.INTERNAL_ERROR], max_attempts=2)])
    pipeline = Pipeline("SdkSample", parameters=[group], steps=[find, create, score], sagemaker_session=session)
    return json.loads(pipeline.definition())


def test_the_sdk_rendering_runs_with_the_function_it_names(engine, served_artifact, sdk_definition):
    images, reference = served_artifact
    assert [s["Type"] for s in sdk_definition["Steps"]] == ["Lambda", "Model", "Transform"]
    asked = []
    engine.functions = {"scones-find-model": lambda event, context: asked.append(event) or {
        "ModelDataUrl": "s3://bkt/model/model.tar.gz"}}
    record = engine.start(sdk_definition, "SdkSample")
    assert record.status == "Succeeded", record.failure_reason
    assert asked == [{"group": "scones"}]
    scored = [uri for uri, _ in engine.store.list("s3://bkt/scored")]
    assert len(scored) == len(images)
    first = next(uri for uri in scored if uri.endswith(images[0].name + ".out"))
    assert json.loads(engine.store.get_bytes(first)) == reference(images[0].read_bytes())


def test_the_same_rendering_is_a_pipeline_sagemaker_creates(sdk_definition):
    """CreatePipeline through botocore (moto serves it) takes the document unchanged."""
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        arn = client.create_pipeline(PipelineName="SdkSample", PipelineDefinition=json.dumps(sdk_definition),
                                     RoleArn="arn:aws:iam::123456789012:role/r")["PipelineArn"]
        assert arn.endswith(":pipeline/SdkSample")

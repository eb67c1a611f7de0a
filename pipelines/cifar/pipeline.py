"""CIFAR-100 bicycle-vs-motorcycle training pipeline.

::

    EtlCifar -> CheckImages -> TrainModel -> EvaluateModel -> CheckAccuracy
                                                                |-- accuracy >= threshold: RegisterModel
                                                                '-- else: AccuracyBelowThreshold (Fail)

- EtlCifar: CIFAR-100 archive -> filtered 32x32 PNG splits with ``.lst`` manifests.
- CheckImages: quarantines corrupt images; fails past ``MaxBadImageFraction``.
- TrainModel: PyTorch script mode (``training/train.py``).
- EvaluateModel: ``evaluation.json`` in SageMaker's model-quality shape (a PropertyFile).
- RegisterModel: a package in the Model Package Group, ``PendingManualApproval`` by default,
  with ``ModelMetrics`` pointing at ``evaluation.json``.

The same definition runs in SageMaker (``scones pipeline upsert/start``, or the seed-code
``run-pipeline``) and on this machine (``scones pipeline run``, no Docker). Building it makes no
network call: step code is referenced by ``s3://`` URI (see :mod:`pipelines.step_code`).
"""

from __future__ import annotations

import boto3
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.pytorch import PyTorch
from sagemaker.tuner import CategoricalParameter, ContinuousParameter, HyperparameterTuner, IntegerParameter
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TuningStep

from common import defaults
from common.defaults import ACCURACY_JSON_PATH, EVALUATION_FILE
from pipelines.sdk import disable_sdk_telemetry, quiet_sdk_logs
from pipelines.step_code import TRAINING_PROGRAM, TRAINING_SOURCE, StepCode, build_step_code
from training.recipe import Recipe
from training.train import METRIC_DEFINITIONS

#: Used when no role is given: a local run needs none, and SageMaker will reject it loudly.
LOCAL_ROLE = "arn:aws:iam::000000000000:role/scones-local-execution"
LOCAL_BUCKET = defaults.LOCAL_BUCKET
FRAMEWORK_VERSION, PY_VERSION = "2.6.0", "py312"
PROPERTY_FILE = "EvaluationReport"


class OfflinePipelineSession(PipelineSession):
    """A pipeline session that makes no AWS call while a definition is rendered.

    The SDK's ``default_bucket()`` checks (and may create) the bucket through S3
    the first time it is asked; here the bucket is configuration, and the code
    upload before an upsert is what meets S3 first, with a clear error if the
    bucket is missing.
    """

    def default_bucket(self) -> str:
        return self._default_bucket_name_override


def get_session(region: str, default_bucket: str, offline: bool = False) -> PipelineSession:
    """A pipeline session; ``offline`` gives it placeholder credentials so nothing is looked up.

    botocore resolves credentials when a client is made, trying the instance
    metadata service among others; a local run or an offline render needs none.
    """
    disable_sdk_telemetry()
    quiet_sdk_logs()
    if offline:
        boto_session = boto3.Session(region_name=region, aws_access_key_id="scones-offline",
                                     aws_secret_access_key="scones-offline")  # noqa: S106 - placeholder
    else:
        boto_session = boto3.Session(region_name=region)
    return OfflinePipelineSession(boto_session=boto_session, default_bucket=default_bucket)


def get_step_code(default_bucket: str | None = None, base_job_prefix: str = defaults.BASE_PREFIX) -> StepCode:
    """The packaged step code the pipeline refers to; upload it before upserting or running."""
    return build_step_code(default_bucket or LOCAL_BUCKET, base_job_prefix)


def pipeline_context(region: str, role: str | None, default_bucket: str | None, base_job_prefix: str,
                     sagemaker_session=None) -> tuple[str, PipelineSession, StepCode, str]:
    """(role, session, step code, ``s3://bucket/prefix``) for a ``get_pipeline`` call: the placeholders
    a bare call renders offline with, or the caller's role, bucket and session."""
    bucket = default_bucket or LOCAL_BUCKET
    role = role or LOCAL_ROLE
    session = sagemaker_session or get_session(region, bucket, offline=role == LOCAL_ROLE)
    return role, session, get_step_code(bucket, base_job_prefix), f"s3://{bucket}/{base_job_prefix}"


class StablePipeline(Pipeline):
    """A pipeline whose definition is the same document on every render of the same code and arguments.

    The SDK bakes a render-time job name with a timestamp into a tuning step's static
    hyperparameters, and emits Debugger collection configurations in hash-seed order: every upsert
    would then be a new pipeline version and every cache key a miss. Both are made stable here:
    the job name becomes the base job name (the training script only logs it; each trial gets its
    own name from SageMaker), the collections are sorted by name.
    """

    def __init__(self, *args, base_job_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._base_job_name = base_job_name

    def definition(self) -> str:
        import json

        document = json.loads(super().definition())
        for step in _all_steps(document.get("Steps", [])):
            arguments = step.get("Arguments", {})
            static = arguments.get("TrainingJobDefinition", {}).get("StaticHyperParameters", {})
            if "sagemaker_job_name" in static:
                static["sagemaker_job_name"] = json.dumps(self._base_job_name)
            hook = arguments.get("DebugHookConfig") or arguments.get("TrainingJobDefinition", {}).get(
                "DebugHookConfig")
            if hook and "CollectionConfigurations" in hook:
                hook["CollectionConfigurations"].sort(key=lambda item: item.get("CollectionName", ""))
        return json.dumps(document)


def _all_steps(steps: list[dict]):
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            yield from _all_steps(step.get("Arguments", {}).get("IfSteps", []))
            yield from _all_steps(step.get("Arguments", {}).get("ElseSteps", []))


def get_pipeline(
    region: str = "us-east-1",
    sagemaker_project_arn: str | None = None,
    sagemaker_project_name: str | None = None,
    role: str | None = None,
    default_bucket: str | None = None,
    model_package_group_name: str = defaults.MODEL_PACKAGE_GROUP,
    pipeline_name: str = defaults.PIPELINE_NAME,
    base_job_prefix: str = defaults.BASE_PREFIX,
    processing_instance_type: str = "ml.m5.xlarge",
    training_instance_type: str = "ml.m5.xlarge",
    sagemaker_session: PipelineSession | None = None,
    tuning: bool = False,
    debugger_rules: bool = False,
    initial_weights_uri: str | None = None,
    freeze_backbone: bool = False,
) -> Pipeline:
    """Build the pipeline; every argument has a default so a bare call renders a definition.

    ``tuning=True`` replaces the single training step with a TuningStep (AdamW peak learning rate
    0.0003-0.01 log-scale, batch size {32, 64, 128, 256}, epoch cap 10-60; objective
    ``val_accuracy``) and evaluates and registers the best training job's model.
    ``initial_weights_uri`` (an ``s3://`` state-dict object) becomes the ``weights`` training
    channel the training script starts from (transfer learning; ``freeze_backbone`` trains the head
    only). ``debugger_rules=True`` switches on SageMaker Debugger/Profiler rules (overfit, overtraining,
    vanishing gradient, poor weight initialization, loss not decreasing, low GPU utilization, CPU
    bottleneck, and the profiler report); they run in SageMaker only -- locally the
    training step's own diagnostics (``training/diagnostics.py``) report overfitting and stalled loss.
    """
    if tuning and debugger_rules:
        # a tuning job's training definition has no Debugger rules (HyperParameterTrainingJobDefinition): the SDK
        # would drop them without a word
        raise ValueError("debugger_rules cannot be combined with tuning: SageMaker tuning jobs run no Debugger "
                         "rules; render one variant or the other")
    bucket = default_bucket or LOCAL_BUCKET
    role, session, code, prefix = pipeline_context(region, role, bucket, base_job_prefix, sagemaker_session)
    cache = CacheConfig(enable_caching=True, expire_after="P30D")

    input_data = ParameterString("InputDataUrl", default_value=f"{prefix}/data/cifar-100-python.tar.gz")
    # what people answered in the review queue, staged by `scones review export`: joins the train split
    reviewed_data = ParameterString("ReviewedDataUrl", default_value=f"{prefix}/{defaults.REVIEWED_PATH}")
    # empty: bicycle,motorcycle from a CIFAR-100 archive, every class folder from an image folder
    classes = ParameterString("Classes", default_value="")
    processing_type = ParameterString("ProcessingInstanceType", default_value=processing_instance_type)
    processing_count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    # the image and the launcher follow the render-time type: a start-time type of the other kind
    # (GPU for a CPU rendering) is refused by SageMaker, as by the engine, instead of run on the wrong image
    training_type = ParameterString("TrainingInstanceType", default_value=training_instance_type,
                                    enum_values=same_kind_instance_types(training_instance_type))
    training_count = ParameterInteger("TrainingInstanceCount", default_value=1)
    # 0: 32 for a CIFAR archive, picked from the images' sizes for an image folder (processing/etl.py)
    image_size = ParameterInteger("ImageSize", default_value=0)
    epochs = ParameterInteger("Epochs", default_value=Recipe.epochs)  # a cap: early stopping usually ends first
    learning_rate = ParameterFloat("LearningRate", default_value=Recipe.learning_rate)
    batch_size = ParameterInteger("BatchSize", default_value=Recipe.batch_size)
    # auto: mirror colour photos, not greyscale scans of text or digits
    horizontal_flip = ParameterString("HorizontalFlip", default_value=Recipe.horizontal_flip)
    architecture = ParameterString("Architecture", default_value="small_cnn")  # resnet, resnet18, resnet50
    max_bad_fraction = ParameterFloat("MaxBadImageFraction", default_value=0.05)
    accuracy_threshold = ParameterFloat("AccuracyThreshold", default_value=0.8)
    approval_status = ParameterString("ModelApprovalStatus", default_value=defaults.PENDING_APPROVAL)

    image = framework_image(region, "training", processing_instance_type)  # has numpy, Pillow, torch

    def processor(name: str, instance_count=processing_count) -> ScriptProcessor:
        return ScriptProcessor(image_uri=image, command=["python3"], role=role, instance_type=processing_type,
                               instance_count=instance_count, base_job_name=f"{base_job_prefix}-{name}",
                               sagemaker_session=session)

    # ProcessingInstanceCount instances share the ETL and the check: each gets about 1/N of the
    # objects (an image folder's files; a CIFAR archive is one object, so one instance converts it)
    # and they merge listings and verdicts into the one-instance dataset (processing/etl.py, check.py).
    sharded = "ShardedByS3Key"

    step_etl = ProcessingStep(
        name="EtlCifar",
        step_args=processor("etl").run(
            code=code.uri("etl.pyz"),
            inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input/data",
                                    s3_data_distribution_type=sharded),
                    # every instance gets them all; the one that writes the manifests adds them
                    ProcessingInput(source=reviewed_data, destination="/opt/ml/processing/input/reviewed")],
            outputs=[ProcessingOutput(output_name=split, source=f"/opt/ml/processing/output/{split}")
                     for split in ("train", "validation", "test", "meta")],
            arguments=["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output",
                       "--classes", classes, "--image-size", image_size.to_string(),
                       "--reviewed", "/opt/ml/processing/input/reviewed"],
        ),
        cache_config=cache,
    )

    splits = ("train", "validation", "test")
    step_check = ProcessingStep(
        name="CheckImages",
        step_args=processor("check").run(
            code=code.uri("check.pyz"),
            inputs=[ProcessingInput(source=step_etl.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri,
                                    destination=f"/opt/ml/processing/input/{split}",
                                    s3_data_distribution_type=sharded) for split in splits],
            outputs=[ProcessingOutput(output_name=name, source=f"/opt/ml/processing/output/{name}")
                     for name in (*splits, "quarantine")],
            arguments=["--input", "/opt/ml/processing/input", "--output", "/opt/ml/processing/output",
                       "--max-bad-fraction", max_bad_fraction.to_string()],
        ),
        cache_config=cache,
    )

    estimator = PyTorch(
        entry_point=TRAINING_PROGRAM,
        source_dir=code.uri(TRAINING_SOURCE),
        framework_version=FRAMEWORK_VERSION,
        py_version=PY_VERSION,
        role=role,
        instance_type=training_type,
        instance_count=training_count,
        hyperparameters={"epochs": epochs, "learning-rate": learning_rate, "batch-size": batch_size, "seed": 0,
                         "architecture": architecture, "freeze-backbone": str(freeze_backbone).lower(),
                         "horizontal-flip": horizontal_flip},
        metric_definitions=METRIC_DEFINITIONS,
        output_path=f"{prefix}/models",
        code_location=f"{prefix}/code",
        base_job_name=f"{base_job_prefix}-train",
        sagemaker_session=session,
        **_debugger_settings(debugger_rules),
        **_distribution(region, training_instance_type),
    )
    clean = step_check.properties.ProcessingOutputConfig.Outputs
    channels = {"train": TrainingInput(clean["train"].S3Output.S3Uri),
                "validation": TrainingInput(clean["validation"].S3Output.S3Uri)}
    if initial_weights_uri:
        channels["weights"] = TrainingInput(initial_weights_uri)
    extra_parameters = []
    if tuning:
        max_jobs = ParameterInteger("MaxTuningJobs", default_value=4)
        max_parallel = ParameterInteger("MaxParallelTuningJobs", default_value=2)
        extra_parameters = [max_jobs, max_parallel]
        tuner = HyperparameterTuner(
            estimator, objective_metric_name="val_accuracy", objective_type="Maximize",
            hyperparameter_ranges={
                "learning-rate": ContinuousParameter(0.0003, 0.01, scaling_type="Logarithmic"),
                "batch-size": CategoricalParameter([32, 64, 128, 256]),
                "epochs": IntegerParameter(10, 60),
            },
            metric_definitions=METRIC_DEFINITIONS, max_jobs=max_jobs, max_parallel_jobs=max_parallel,
            strategy="Random", base_tuning_job_name=f"{base_job_prefix}-tune",
        )
        step_train = TuningStep(name="TuneModel", step_args=tuner.fit(channels))
        model_data = step_train.get_top_model_s3_uri(top_k=0, s3_bucket=bucket, prefix=f"{base_job_prefix}/models")
    else:
        step_train = TrainingStep(name="TrainModel", step_args=estimator.fit(channels), cache_config=cache)
        model_data = step_train.properties.ModelArtifacts.S3ModelArtifacts

    evaluation_report = PropertyFile(name=PROPERTY_FILE, output_name="evaluation", path=EVALUATION_FILE)
    step_eval = ProcessingStep(
        name="EvaluateModel",
        # one instance: the test split is small, and evaluation.json is one report
        step_args=processor("eval", instance_count=1).run(
            code=code.uri("evaluate.pyz"),
            inputs=[
                ProcessingInput(source=model_data, destination="/opt/ml/processing/model"),
                ProcessingInput(source=clean["test"].S3Output.S3Uri, destination="/opt/ml/processing/test"),
                # the check's report: the data digest, counts and quarantined files, for the approver
                ProcessingInput(source=clean["quarantine"].S3Output.S3Uri,
                                destination="/opt/ml/processing/quarantine"),
            ],
            outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")],
            arguments=["--model", "/opt/ml/processing/model", "--test", "/opt/ml/processing/test",
                       "--output", "/opt/ml/processing/evaluation", "--quarantine", "/opt/ml/processing/quarantine"],
        ),
        property_files=[evaluation_report],
        cache_config=cache,
    )

    evaluation_uri = Join(on="/", values=[
        step_eval.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri, EVALUATION_FILE])
    model = Model(
        image_uri=framework_image(region, "inference", "ml.m5.large"),
        model_data=model_data,
        role=role,
        env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        sagemaker_session=session,
    )
    step_register = ModelStep(
        name="RegisterModel",
        step_args=model.register(
            content_types=[*defaults.IMAGE_CONTENT_TYPES, defaults.JSON_CONTENT_TYPE],
            response_types=[defaults.JSON_CONTENT_TYPE],
            inference_instances=["ml.t2.medium", "ml.m5.large", "ml.m5.xlarge"],
            transform_instances=["ml.m5.xlarge"],
            model_package_group_name=model_package_group_name,
            approval_status=approval_status,
            model_metrics=ModelMetrics(model_statistics=MetricsSource(
                content_type="application/json", s3_uri=evaluation_uri)),
            description="CIFAR-100 image classifier trained by the scones pipeline",
        ),
    )

    accuracy = JsonGet(step_name=step_eval.name, property_file=evaluation_report, json_path=ACCURACY_JSON_PATH)
    step_fail = FailStep(
        name="AccuracyBelowThreshold",
        error_message=Join(on=" ", values=["Model accuracy", accuracy, "is below the threshold",
                                           accuracy_threshold, "- not registered."]),
    )
    step_condition = ConditionStep(
        name="CheckAccuracy",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=accuracy_threshold)],
        if_steps=[step_register],
        else_steps=[step_fail],
    )

    return StablePipeline(
        base_job_name=f"{base_job_prefix}-train",
        name=pipeline_name,
        parameters=[input_data, reviewed_data, classes, processing_type, processing_count, training_type,
                    training_count, image_size, epochs, learning_rate, batch_size, horizontal_flip, architecture,
                    max_bad_fraction, accuracy_threshold, approval_status,
                    *extra_parameters],
        steps=[step_etl, step_check, step_train, step_eval, step_condition],
        sagemaker_session=session,
    )


#: Instance families with GPUs, where SageMaker launches torchrun (one process per GPU) on every host.
GPU_FAMILIES = ("ml.p", "ml.g")


def same_kind_instance_types(instance_type: str) -> list[str]:
    """SageMaker's training instance types of the same kind (GPU or CPU) as ``instance_type``.

    To start on a GPU type, render for one: ``--kwargs '{"training_instance_type": "ml.g5.xlarge"}'``.
    """
    from common.service_models import service_model

    known = service_model("sagemaker").shape_for("TrainingInstanceType").enum
    gpu = instance_type.startswith(GPU_FAMILIES)
    return sorted(t for t in known if t.startswith(GPU_FAMILIES) == gpu)


def _distribution(region: str, instance_type: str) -> dict:
    """Data-parallel training over ``TrainingInstanceCount`` hosts.

    On GPU instances SageMaker's ``torch_distributed`` launcher runs torchrun on each host (NCCL);
    on CPU instances (SageMaker accepts torch_distributed on GPU and Trainium only) each host runs
    one process and the script forms the gloo group from ``SM_HOSTS`` (``common/distributed.py``).
    One instance is the plain path either way.
    """
    if instance_type.startswith(GPU_FAMILIES):
        # the image named explicitly: the instance type is a pipeline parameter, which the SDK's
        # torch_distributed check cannot read (it would call a GPU type unsupported)
        return {"distribution": {"torch_distributed": {"enabled": True}},
                "image_uri": framework_image(region, "training", instance_type)}
    return {}


def _debugger_settings(enabled: bool) -> dict:
    if not enabled:
        return {"disable_profiler": True}
    from sagemaker.debugger import ProfilerRule, Rule, rule_configs

    # the dog-breed use case's rule set: training-health rules plus the profiler report
    return {"rules": [Rule.sagemaker(rule_configs.overfit()), Rule.sagemaker(rule_configs.overtraining()),
                      Rule.sagemaker(rule_configs.vanishing_gradient()),
                      Rule.sagemaker(rule_configs.poor_weight_initialization()),
                      Rule.sagemaker(rule_configs.loss_not_decreasing()),
                      ProfilerRule.sagemaker(rule_configs.LowGPUUtilization()),
                      ProfilerRule.sagemaker(rule_configs.CPUBottleneck()),
                      ProfilerRule.sagemaker(rule_configs.ProfilerReport())]}


def framework_image(region: str, scope: str, instance_type: str) -> str:
    from sagemaker import image_uris

    return image_uris.retrieve("pytorch", region, version=FRAMEWORK_VERSION, py_version=PY_VERSION,
                               instance_type=instance_type, image_scope=scope)

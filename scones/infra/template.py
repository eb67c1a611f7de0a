"""The CloudFormation template that stands the AWS side up, generated from the code it deploys.

Resources: the three workflow Lambdas, the deployer and the registration
notifier (code packaged from ``lambdas/`` by :mod:`scones.infra.package`); both
state machines, whose definitions are the Step Functions SDK's output verbatim
(function and topic ARNs come in through ``DefinitionSubstitutions``); the
EventBridge rules on "SageMaker Model Package State Change" for this project's
group; the SNS topic; the CodeBuild project running ``buildspec.yml``; and one
IAM role per function or service.

Least privilege: no ``*`` actions, no ``service:*``; resources are the
project's bucket prefix, endpoint, topic, group, functions and log groups. The
few actions AWS cannot scope to a resource (listing, ECR auth tokens,
Application Auto Scaling) are named in :data:`UNSCOPABLE_ACTIONS`, and only
those may use ``Resource: "*"`` -- ``tests/infra`` enforces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from common import defaults
from inference_workflow.tasks import ALL_TASKS, LIVE_ALIAS, Task
from inference_workflow.workflow_config import WorkflowConfig
from scones.deploy.alarms import LATENCY_P99_MICROSECONDS, ROLLBACK_ALARMS, AlarmRule

ROOT = Path(__file__).resolve().parent.parent.parent
#: Actions with no resource-level permissions in AWS: only these may use Resource "*".
UNSCOPABLE_ACTIONS = frozenset({
    "sagemaker:ListModelPackageGroups",
    "ecr:GetAuthorizationToken",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DescribeAlarms",
    # Step Functions logging: CloudWatch Logs' vended-log delivery API has no resource-level permissions
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
})

SUB = "Fn::Sub"
#: The CloudWatch alarms a blue/green endpoint update watches; any of them in ALARM rolls it back (the local
#: endpoint evaluates the same rules: scones.deploy.alarms).
ROLLBACK_ALARM_NAMES = tuple(rule.name for rule in ROLLBACK_ALARMS)
#: The actions a key policy grants to the roles that encrypt or read with the project's key.
KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
           "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
KEY_ADMIN = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKeyRotation",
             "kms:GetKeyRotationStatus", "kms:EnableKey", "kms:DisableKey", "kms:ScheduleKeyDeletion",
             "kms:CancelKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
             "kms:ListResourceTags", "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant", "kms:Encrypt",
             "kms:Decrypt", "kms:GenerateDataKey"]
PREFIX_ARN = "arn:${AWS::Partition}:s3:::${ArtifactBucket}/${ProjectName}/*"
CAPTURE_URI = "s3://${ArtifactBucket}/${ProjectName}/datacapture"
CAPTURE_ARN = "arn:${AWS::Partition}:s3:::${ArtifactBucket}/${ProjectName}/datacapture/*"
GROUP_PACKAGES = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:model-package/${GroupLower}/*"
GROUP_ARN = ("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
             "model-package-group/${ModelPackageGroupName}")
ENDPOINT_ARN = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName}"
#: Pipeline ARNs, one way: ``_pipeline_arn(name)``; this project's pipelines are ``${ProjectName}*``,
#: the training pipeline ${ProjectName}-p1 and the monitor ${ProjectName}-monitor.
PIPELINE_ARN_PREFIX = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/"
PROJECT_PIPELINES = "${ProjectName}*"
TRAINING_PIPELINE = "${ProjectName}-p1"
MONITOR_PIPELINE = "${ProjectName}-monitor"
#: The human review flow (Amazon A2I) the review task starts loops in; named by convention, made outside the
#: template (CloudFormation has no A2I resource type). Until it exists, a queued review fails and only notifies.
SAGEMAKER_ARN = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
REVIEW_FLOW_ARN = SAGEMAKER_ARN + "flow-definition/${ProjectName}-review"
HUMAN_LOOPS_ARN = SAGEMAKER_ARN + "human-loop/*"
PROJECT_RESOURCES = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:{kind}/${EndpointName}*"


def _sub(text: str) -> dict:
    return {SUB: text}


def _pipeline_arn(name: str) -> dict:
    return _sub(PIPELINE_ARN_PREFIX + name)


def _role(service: str, statements: list[dict], name: str, role_name: dict | None = None) -> dict:
    """An IAM role for ``service`` with one inline policy; ``role_name`` fixes its name (others are generated)."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            **({"RoleName": role_name} if role_name else {}),
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17",
                                                                 "Statement": statements}}],
        },
    }


def _logs(function: str) -> dict:
    return {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                             f"/aws/lambda/${{ProjectName}}-{function}:*")}


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """One Lambda function of the template: its name after the project prefix, module, grants, settings."""

    name: str
    module: str
    statements: tuple[dict, ...] = ()
    environment: dict = field(default_factory=dict)
    on_request_path: bool = False  # gets a "live" alias with provisioned concurrency, which callers use


#: What a workflow task's ``permissions`` may name, as least-privilege IAM statements.
PERMISSIONS = {
    "read_images": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": _sub(PREFIX_ARN)},
    "invoke_endpoint": {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"], "Resource": _sub(ENDPOINT_ARN)},
    "start_human_loop": {"Effect": "Allow", "Action": ["sagemaker:StartHumanLoop", "sagemaker:DescribeHumanLoop"],
                         "Resource": [_sub(REVIEW_FLOW_ARN), _sub(HUMAN_LOOPS_ARN)]},
    # a serverless endpoint has no data capture: the classifier writes the records (encrypted with the project key)
    "write_capture": {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": _sub(CAPTURE_ARN)},
}
#: Where each setting a function reads comes from in the template.
SETTING_SOURCES = {
    "ENDPOINT_NAME": {"Ref": "EndpointName"},
    "CLASSES": {"Ref": "Classes"},
    "THRESHOLD": {"Ref": "ConfidenceThreshold"},
    "NOTIFY_TOPIC_ARN": {"Ref": "NotificationTopic"},
    "REVIEW_QUEUE": _sub("a2i://" + REVIEW_FLOW_ARN),
    "REVIEW_SAMPLE": {"Ref": "ReviewSample"},
    # only a serverless endpoint needs the classifier to capture (a real-time one captures itself)
    "CAPTURE_URI": {"Fn::If": ["IsServerless", _sub(CAPTURE_URI), ""]},
}


def _task_function(task: Task) -> FunctionSpec:
    unknown = [name for name in (*task.permissions, *task.settings) if name not in {**PERMISSIONS, **SETTING_SOURCES}]
    if unknown:
        raise ValueError(f"workflow task {task.state}: the template knows no {', '.join(unknown)} "
                         f"(permissions: {', '.join(PERMISSIONS)}; settings: {', '.join(SETTING_SOURCES)})")
    return FunctionSpec(name=task.function, module=task.handler,
                        statements=tuple(PERMISSIONS[name] for name in task.permissions),
                        environment={name: SETTING_SOURCES[name] for name in task.settings}, on_request_path=True)


def _notifier(name: str, module: str, *statements: dict, settings: tuple[str, ...] = ()) -> FunctionSpec:
    return FunctionSpec(name=name, module=module, statements=(
        *statements, {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": {"Ref": "NotificationTopic"}}),
        environment={key: SETTING_SOURCES[key] for key in ("NOTIFY_TOPIC_ARN", *settings)})


READ_GROUP = ({"Effect": "Allow", "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages",
                                             "sagemaker:DescribeModelPackageGroup"],
               "Resource": [_sub(GROUP_PACKAGES), _sub(GROUP_ARN)]},
              {"Effect": "Allow", "Action": ["sagemaker:ListModelPackageGroups"], "Resource": "*"},
              {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": _sub(PREFIX_ARN)})

#: Every function, by logical id: the workflow's tasks (one row each in ``inference_workflow.tasks``), then the rest.
FUNCTIONS: dict[str, FunctionSpec] = {
    **{task.logical_id: _task_function(task) for task in ALL_TASKS},
    "DeployerFunction": FunctionSpec(name="deploy-model", module="lambdas.deploy_model", statements=(
        *READ_GROUP,
        {"Effect": "Allow", "Action": ["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags"],
         "Resource": _sub(PROJECT_RESOURCES.replace("{kind}", "model"))},
        {"Effect": "Allow", "Action": ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig"],
         "Resource": _sub(PROJECT_RESOURCES.replace("{kind}", "endpoint-config"))},
        {"Effect": "Allow", "Action": ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
                                       "sagemaker:DescribeEndpoint"], "Resource": _sub(ENDPOINT_ARN)},
        {"Effect": "Allow", "Action": ["application-autoscaling:RegisterScalableTarget",
                                       "application-autoscaling:PutScalingPolicy"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": {"Fn::GetAtt": ["SageMakerRole", "Arn"]}},
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": {"Ref": "NotificationTopic"}},
        {"Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]},
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ), environment={
        "ENDPOINT_NAME": SETTING_SOURCES["ENDPOINT_NAME"],
        "EXECUTION_ROLE_ARN": {"Fn::GetAtt": ["SageMakerRole", "Arn"]},
        "CAPTURE_S3_URI": _sub(CAPTURE_URI),
        "DEPLOY_MODE": {"Ref": "DeployMode"}, "ROLLOUT": {"Ref": "Rollout"},
        "SERVERLESS_MEMORY": {"Ref": "ServerlessMemoryInMB"},
        "SERVERLESS_CONCURRENCY": {"Ref": "ServerlessMaxConcurrency"},
        "MODEL_PACKAGE_GROUP": {"Ref": "ModelPackageGroupName"},
        "NOTIFY_TOPIC_ARN": SETTING_SOURCES["NOTIFY_TOPIC_ARN"],
        "ROLLBACK_ALARMS": _sub(",".join(ROLLBACK_ALARM_NAMES)), "KMS_KEY_ID": {"Ref": "DataKey"}}),
    "RegistrationNotifierFunction": _notifier(
        "notify-registration", "lambdas.notify_registration", *READ_GROUP,
        # what serves: the notice compares the candidate with it, not with an approved version that failed to deploy
        {"Effect": "Allow", "Action": ["sagemaker:DescribeEndpoint"], "Resource": _sub(ENDPOINT_ARN)},
        {"Effect": "Allow", "Action": ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
         "Resource": [_sub(PROJECT_RESOURCES.replace("{kind}", "endpoint-config")),
                      _sub(PROJECT_RESOURCES.replace("{kind}", "model"))]},
        settings=("ENDPOINT_NAME",)),
    "ClassifyApiFunction": FunctionSpec(
        name="classify-api", module="lambdas.classify_api", statements=(PERMISSIONS["invoke_endpoint"],),
        environment={name: SETTING_SOURCES[name] for name in ("ENDPOINT_NAME", "CLASSES", "THRESHOLD")},
        on_request_path=True),
    "PipelineFailureNotifierFunction": _notifier(
        "notify-pipeline-failure", "lambdas.notify_pipeline_failure",
        {"Effect": "Allow", "Action": ["sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps"],
         "Resource": _pipeline_arn(PROJECT_PIPELINES + "/execution/*")}),
}
#: The functions whose roles use the project's KMS key (encrypted SNS, capture objects, endpoint volumes).
KEY_USERS = ("DeployerFunction", "RegistrationNotifierFunction", "PipelineFailureNotifierFunction")

WORKFLOW_PLACEHOLDERS = WorkflowConfig(functions={task.state: f"${{{task.arn_variable}}}" for task in ALL_TASKS},
                                       review_topic_arn="${NotificationTopicArn}")


def state_machine_definitions() -> dict[str, dict]:
    """The SDK's definitions, with ARNs left as substitution variables."""
    from inference_workflow.workflow import definition

    return {"InferenceStateMachine": definition(WORKFLOW_PLACEHOLDERS, batch=False),
            "BatchInferenceStateMachine": definition(WORKFLOW_PLACEHOLDERS, batch=True)}


def _function(logical: str, spec: FunctionSpec) -> dict:
    environment = spec.environment
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": _sub(f"${{ProjectName}}-{spec.name}"),
            "Runtime": "python3.11",
            "Handler": f"{spec.module}.handler",
            "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "LambdaCodeKey"}},
            "Role": {"Fn::GetAtt": [f"{logical}Role", "Arn"]},
            "Timeout": 60,
            "MemorySize": 256,
            **({"Environment": {"Variables": environment}} if environment else {}),
        },
    }


def _event_rule(target: str, statuses: dict) -> dict:
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventPattern": {"source": [defaults.SAGEMAKER_EVENT_SOURCE], "detail-type": [defaults.MODEL_PACKAGE_EVENT],
                             "detail": {"ModelPackageGroupName": [{"Ref": "ModelPackageGroupName"}],
                                        "ModelApprovalStatus": [statuses]}},
            "Targets": [{"Arn": {"Fn::GetAtt": [target, "Arn"]}, "Id": target}],
        },
    }


def _add_retraining(resources: dict) -> None:
    """Start the training pipeline when new data lands under the data prefix, on a schedule, and per review export.

    Reviewed images are staged beside the data prefix (``<project>/reviewed/``); the export
    writes its manifest last, so the rule on that one key starts one run per export, after the
    images are all there, where a rule on the prefix would start one per image.

    The S3 rule needs EventBridge notifications switched on for the bucket
    (``aws s3api put-bucket-notification-configuration ... EventBridgeConfiguration={}``).
    """
    resources["RetrainRole"] = _role("events", [{"Effect": "Allow", "Action": ["sagemaker:StartPipelineExecution"],
                                                 "Resource": _pipeline_arn(TRAINING_PIPELINE)}], "RetrainPolicy")
    target = {"Arn": _pipeline_arn(TRAINING_PIPELINE), "Id": "TrainingPipeline",
              "RoleArn": {"Fn::GetAtt": ["RetrainRole", "Arn"]},
              "SageMakerPipelineParameters": {"PipelineParameterList": [
                  {"Name": "InputDataUrl", "Value": _sub("s3://${ArtifactBucket}/${ProjectName}/data")},
                  {"Name": "ReviewedDataUrl",
                   "Value": _sub(f"s3://${{ArtifactBucket}}/${{ProjectName}}/{defaults.REVIEWED_PATH}")}]}}
    resources["NewDataRule"] = {"Type": "AWS::Events::Rule", "Properties": {
        "Description": "new training data -> retrain",
        "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"],
                         "detail": {"bucket": {"name": [{"Ref": "ArtifactBucket"}]},
                                    "object": {"key": [{"prefix": _sub("${ProjectName}/data/")}]}}},
        "Targets": [target]}}
    resources["ReviewedDataRule"] = {"Type": "AWS::Events::Rule", "Properties": {
        "Description": "reviewed images exported (scones review export) -> retrain with them",
        "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"],
                         "detail": {"bucket": {"name": [{"Ref": "ArtifactBucket"}]},
                                    "object": {"key": [_sub(f"${{ProjectName}}/{defaults.REVIEWED_PATH}/"
                                                            f"{defaults.REVIEW_EXPORT_MANIFEST}")]}}},
        "Targets": [target]}}
    resources["RetrainScheduleRule"] = {"Type": "AWS::Events::Rule", "Properties": {
        "Description": "scheduled retraining", "ScheduleExpression": {"Ref": "RetrainSchedule"},
        "Targets": [target]}}


def _add_operations_alerts(resources: dict) -> None:
    """Failures and drift reach people: a rule on failed pipeline executions, a scheduled drift check.

    The drift check is the monitoring pipeline (``pipelines/monitor``), started by an
    EventBridge schedule; its job alerts through the topic and, with ``RetrainOnDrift``,
    starts the training pipeline (the SageMaker role may start that one pipeline only).
    """
    resources["PipelineFailedRule"] = {"Type": "AWS::Events::Rule", "Properties": {
        "Description": "a pipeline execution of this project failed -> notify",
        "EventPattern": {"source": [defaults.SAGEMAKER_EVENT_SOURCE],
                         "detail-type": [defaults.PIPELINE_EXECUTION_EVENT],
                         "detail": {"currentPipelineExecutionStatus": ["Failed"],
                                    "pipelineArn": [{"prefix": _pipeline_arn("${ProjectName}")}]}},
        "Targets": [{"Arn": {"Fn::GetAtt": ["PipelineFailureNotifierFunction", "Arn"]},
                     "Id": "PipelineFailureNotifierFunction"}]}}
    resources["PipelineFailedRulePermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "PipelineFailureNotifierFunction"},
        "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": ["PipelineFailedRule", "Arn"]}}}
    resources["MonitorScheduleRole"] = _role("events", [{
        "Effect": "Allow", "Action": ["sagemaker:StartPipelineExecution"],
        "Resource": _pipeline_arn(MONITOR_PIPELINE)}], "MonitorSchedulePolicy")
    resources["MonitorScheduleRule"] = {"Type": "AWS::Events::Rule", "Properties": {
        "Description": "scheduled drift check of the endpoint's data capture",
        "ScheduleExpression": {"Ref": "MonitorSchedule"},
        "Targets": [{"Arn": _pipeline_arn(MONITOR_PIPELINE), "Id": "MonitorPipeline",
                     "RoleArn": {"Fn::GetAtt": ["MonitorScheduleRole", "Arn"]},
                     "SageMakerPipelineParameters": {"PipelineParameterList": [
                         {"Name": "CaptureUri", "Value": _sub("s3://${ArtifactBucket}/${ProjectName}/datacapture/"
                                                              "${EndpointName}")},
                         {"Name": "ConfidenceThreshold", "Value": {"Ref": "ConfidenceThreshold"}},
                         {"Name": "NotifyTopicArn", "Value": {"Ref": "NotificationTopic"}},
                         {"Name": "RetrainPipeline", "Value": {"Fn::If": [
                             "RetrainOnDriftEnabled", _sub(TRAINING_PIPELINE), "none"]}}]}}]}}


def _key_use() -> dict:
    """Use of the project's key: encrypted SNS, capture objects and endpoint volumes need it."""
    return {"Effect": "Allow", "Action": list(KEY_USE), "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]}}


def _add_live_aliases(resources: dict) -> None:
    """A published version and a ``live`` alias per request-path function, warm when asked.

    Provisioned concurrency (``ProvisionedConcurrency``, default 3 as in the dog-breed use case,
    0 turns it off) keeps that many containers initialised, so a request never waits for a cold
    start; it attaches to an alias, which is why the state machines and the API call the alias.
    """
    for function in (logical for logical, spec in FUNCTIONS.items() if spec.on_request_path):
        resources[f"{function}Version"] = {"Type": "AWS::Lambda::Version",
                                           "Properties": {"FunctionName": {"Ref": function}}}
        resources[f"{function}LiveAlias"] = {"Type": "AWS::Lambda::Alias", "Properties": {
            "FunctionName": {"Ref": function}, "Name": LIVE_ALIAS,
            "FunctionVersion": {"Fn::GetAtt": [f"{function}Version", "Version"]},
            "ProvisionedConcurrencyConfig": {"Fn::If": [
                "HasProvisionedConcurrency", {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}},
                {"Ref": "AWS::NoValue"}]}}}


def _alarm(rule: AlarmRule, namespace: str, dimensions: list[dict], threshold=None) -> dict:
    statistic = {"Statistic": rule.statistic} if rule.statistic in ("Sum", "Average", "Maximum", "Minimum",
                                                                     "SampleCount") else \
        {"ExtendedStatistic": rule.statistic}
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": _sub(rule.name), "AlarmDescription": rule.description, "Namespace": namespace,
        "MetricName": rule.metric, "Dimensions": dimensions, **statistic, "Period": rule.period,
        "EvaluationPeriods": rule.evaluation_periods, "DatapointsToAlarm": rule.datapoints_to_alarm,
        "Threshold": rule.threshold if threshold is None else threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching", "AlarmActions": [{"Ref": "NotificationTopic"}]}}


def _add_production_serving(resources: dict) -> None:
    """What the dog-breed use case serves web clients with: an HTTPS API, alarms, encryption.

    - ``POST /classify`` on an API Gateway HTTP API (CORS from ``ApiAllowedOrigins``) -> the
      classify-api function's live alias; the handler answers with proper status codes;
    - CloudWatch alarms on endpoint 5xx and p99 model latency -- the deployer passes their names
      as the blue/green update's auto-rollback alarms -- and on failed workflow executions;
    - one customer-managed KMS key (rotated) for the SNS topic, the data capture objects and the
      endpoint's volumes (the deployer puts it in each endpoint config).
    """
    endpoint = [{"Name": "EndpointName", "Value": {"Ref": "EndpointName"}},
                {"Name": "VariantName", "Value": "AllTraffic"}]
    errors, latency = ROLLBACK_ALARMS
    resources["Endpoint5xxAlarm"] = _alarm(errors, "AWS/SageMaker", endpoint)
    resources["ModelLatencyAlarm"] = _alarm(latency, "AWS/SageMaker", endpoint, {"Ref": "ModelLatencyP99Microseconds"})
    resources["WorkflowFailuresAlarm"] = _alarm(
        AlarmRule("${ProjectName}-workflow-executions-failed", "inference workflow executions fail",
                  "ExecutionsFailed", "Sum", 1),
        "AWS/States", [{"Name": "StateMachineArn", "Value": {"Ref": "InferenceStateMachine"}}])
    resources["HttpApi"] = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
        "Name": _sub("${ProjectName}-api"), "ProtocolType": "HTTP",
        "CorsConfiguration": {"AllowOrigins": {"Ref": "ApiAllowedOrigins"}, "AllowMethods": ["POST", "OPTIONS"],
                              "AllowHeaders": ["content-type"], "MaxAge": 600}}}
    resources["ClassifyIntegration"] = {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "2.0",
        "IntegrationUri": {"Ref": "ClassifyApiFunctionLiveAlias"}, "TimeoutInMillis": 29000}}
    resources["ClassifyRoute"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "RouteKey": "POST /classify",
        "Target": _sub("integrations/${ClassifyIntegration}")}}
    resources["ApiStage"] = {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True,
        "DefaultRouteSettings": {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}}}
    resources["ClassifyApiPermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "ClassifyApiFunctionLiveAlias"},
        "Principal": "apigateway.amazonaws.com",
        "SourceArn": _sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/POST/"
                          "classify")}}
    account_root = _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    resources["DataKey"] = {"Type": "AWS::KMS::Key", "Properties": {
        "Description": _sub("${ProjectName}: SNS, data capture and endpoint volumes"), "EnableKeyRotation": True,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [
            # the account's IAM policies decide who uses the key: each role below names it (no cycle)
            {"Sid": "AccountIamPoliciesDecide", "Effect": "Allow", "Principal": {"AWS": account_root},
             "Action": sorted({*KEY_ADMIN, *KEY_USE}), "Resource": "*"},
            {"Sid": "ServicesPublishToTheEncryptedTopic", "Effect": "Allow",
             "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]},
             "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}]}}}
    resources["DataKeyAlias"] = {"Type": "AWS::KMS::Alias", "Properties": {
        "AliasName": _sub("alias/${ProjectName}-data"), "TargetKeyId": {"Ref": "DataKey"}}}


def _sagemaker_statements() -> list[dict]:
    """The pipelines' jobs: data and code under the project prefix, AWS's images, registration, and the
    monitoring job's alert, registry read and retraining start (the training pipeline only)."""
    return [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [_sub(PREFIX_ARN), _sub("arn:${AWS::Partition}:s3:::${ArtifactBucket}")]},
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                       "ecr:BatchCheckLayerAvailability"],
         "Resource": _sub("arn:${AWS::Partition}:ecr:${AWS::Region}:763104351884:repository/pytorch-*")},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": _sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/*")},
        {"Effect": "Allow", "Action": ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob",
                                       "sagemaker:DescribeProcessingJob", "sagemaker:DescribeTrainingJob",
                                       "sagemaker:AddTags"],
         "Resource": [_sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:processing-job/*"),
                      _sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:training-job/*")]},
        {"Effect": "Allow", "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                                       "sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup"],
         "Resource": [_sub(GROUP_PACKAGES), _sub(GROUP_ARN)]},
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": _sub(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ProjectName}-*")},
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": {"Ref": "NotificationTopic"}},
        {"Effect": "Allow", "Action": ["sagemaker:ListModelPackages"], "Resource": [_sub(GROUP_PACKAGES),
                                                                                    _sub(GROUP_ARN)]},
        {"Effect": "Allow", "Action": ["sagemaker:ListModelPackageGroups"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["sagemaker:StartPipelineExecution"],
         "Resource": _pipeline_arn(TRAINING_PIPELINE)},
        _key_use(),
    ]


def build_template() -> dict:
    resources: dict[str, dict] = {
        "NotificationTopic": {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": _sub("${ProjectName}-notify"), "KmsMasterKeyId": {"Ref": "DataKey"}}},
    }
    for logical, spec in FUNCTIONS.items():
        key_use = [_key_use()] if logical in KEY_USERS else []
        resources[f"{logical}Role"] = _role("lambda", [_logs(spec.name), *spec.statements, *key_use],
                                            f"{logical}Policy")
        resources[logical] = _function(logical, spec)
    _add_live_aliases(resources)
    # what the review flow (scones infra review-flow) runs as: it shows workers the images and writes answers
    resources["ReviewFlowRole"] = _role("sagemaker", [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": _sub(PREFIX_ARN)},
        _key_use()], "ReviewFlowPolicy")
    invoke = {"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
              "Resource": [{"Ref": task.alias_logical_id} for task in ALL_TASKS]}
    resources["StateMachineLogs"] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": _sub("/aws/vendedlogs/states/${ProjectName}-inference"), "RetentionInDays": 30}}
    resources["StateMachineRole"] = _role("states", [
        invoke, {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": {"Ref": "NotificationTopic"}},
        _key_use(),
        {"Effect": "Allow", "Action": ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                       "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                                       "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
         "Resource": "*"}],
        "StateMachinePolicy")
    substitutions = {**{task.arn_variable: {"Ref": task.alias_logical_id} for task in ALL_TASKS},
                     "NotificationTopicArn": {"Ref": "NotificationTopic"}}
    for logical, document in state_machine_definitions().items():
        resources[logical] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "DefinitionString": json.dumps(document, indent=1), "DefinitionSubstitutions": substitutions,
            "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]},
            "LoggingConfiguration": {"Level": "ERROR", "IncludeExecutionData": False, "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["StateMachineLogs", "Arn"]}}}]}}}
    resources["ApprovalRule"] = _event_rule("DeployerFunction", {"anything-but": defaults.PENDING_APPROVAL})
    resources["RegistrationRule"] = _event_rule("RegistrationNotifierFunction", defaults.PENDING_APPROVAL)
    for rule, function in (("ApprovalRule", "DeployerFunction"), ("RegistrationRule", "RegistrationNotifierFunction")):
        resources[f"{rule}Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": function},
            "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}
    resources["SageMakerRole"] = _role("sagemaker", _sagemaker_statements(), "SageMakerPolicy",
                                       _sub("${ProjectName}-sagemaker"))
    resources["CodeBuildRole"] = _role("codebuild", [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": _sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                          "/aws/codebuild/${ProjectName}-*")},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": _sub(PREFIX_ARN)},
        {"Effect": "Allow", "Action": ["sagemaker:CreatePipeline", "sagemaker:UpdatePipeline",
                                       "sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution",
                                       "sagemaker:DescribePipelineExecution",
                                       "sagemaker:ListPipelineExecutionSteps", "sagemaker:AddTags"],
         "Resource": [_pipeline_arn(PROJECT_PIPELINES), _pipeline_arn(PROJECT_PIPELINES + "/execution/*")]},
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": {"Fn::GetAtt": ["SageMakerRole", "Arn"]}},
    ], "CodeBuildPolicy")
    resources["BuildProject"] = {"Type": "AWS::CodeBuild::Project", "Properties": {
        "Name": _sub("${ProjectName}-build"),
        "ServiceRole": {"Fn::GetAtt": ["CodeBuildRole", "Arn"]},
        "Source": {"Type": "S3", "Location": _sub("${ArtifactBucket}/${ProjectName}/source.zip"),
                   "BuildSpec": "buildspec.yml"},
        "Artifacts": {"Type": "NO_ARTIFACTS"},
        "Environment": {"Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL",
                        "Image": "aws/codebuild/standard:7.0", "EnvironmentVariables": [
                            {"Name": "SAGEMAKER_PROJECT_NAME", "Value": {"Ref": "ProjectName"}},
                            {"Name": "SAGEMAKER_PROJECT_ID", "Value": "p1"},
                            {"Name": "SAGEMAKER_PROJECT_ARN", "Value": "none"},
                            {"Name": "SAGEMAKER_PIPELINE_ROLE_ARN",
                             "Value": {"Fn::GetAtt": ["SageMakerRole", "Arn"]}},
                            {"Name": "ARTIFACT_BUCKET", "Value": {"Ref": "ArtifactBucket"}}]},
    }}
    _add_retraining(resources)
    _add_operations_alerts(resources)
    _add_production_serving(resources)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "scones-mlops: inference workflow, deploy-on-approval, notifications, CodeBuild pipeline run",
        "Parameters": {
            "ProjectName": {"Type": "String", "Default": defaults.BASE_PREFIX,
                            "AllowedPattern": "[a-z][a-z0-9-]{1,30}"},
            "ArtifactBucket": {"Type": "String", "Description": "bucket holding data, code and artifacts"},
            "LambdaCodeKey": {"Type": "String", "Default": f"{defaults.BASE_PREFIX}/lambda.zip",
                              "Description": "S3 key of the zip `scones infra package` writes"},
            "ModelPackageGroupName": {"Type": "String", "Default": defaults.MODEL_PACKAGE_GROUP},
            "GroupLower": {"Type": "String", "Default": defaults.MODEL_PACKAGE_GROUP.lower(),
                           "Description": "the group name in lower case, as it appears in model package ARNs"},
            "EndpointName": {"Type": "String", "Default": defaults.ENDPOINT_NAME},
            "Classes": {"Type": "String", "Default": ",".join(defaults.DEFAULT_CLASSES)},
            "ConfidenceThreshold": {"Type": "String", "Default": str(defaults.CONFIDENCE_THRESHOLD)},
            "ReviewSample": {"Type": "String", "Default": str(defaults.REVIEW_SAMPLE),
                             "Description": "share of confident images also sent to human review (0: none)"},
            "RetrainSchedule": {"Type": "String", "Default": "rate(7 days)",
                                "Description": "EventBridge schedule that starts the pipeline"},
            "MonitorSchedule": {"Type": "String", "Default": "rate(1 day)",
                                "Description": "EventBridge schedule of the drift check (monitoring pipeline)"},
            "RetrainOnDrift": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"],
                               "Description": "start the training pipeline when the drift check fires"},
            "ProvisionedConcurrency": {"Type": "Number", "Default": 3, "MinValue": 0,
                                       "Description": "warm containers per request-path function (0: none)"},
            "ApiAllowedOrigins": {"Type": "CommaDelimitedList", "Default": "http://localhost:3000",
                                  "Description": "origins allowed to call POST /classify from a browser (CORS)"},
            "ModelLatencyP99Microseconds": {"Type": "Number", "Default": LATENCY_P99_MICROSECONDS,
                                            "Description": "p99 ModelLatency that raises the alarm (and rolls back)"},
            "DeployMode": {"Type": "String", "Default": defaults.DEPLOY_MODE,
                           "AllowedValues": ["realtime", "serverless"],
                           "Description": "realtime (instances, data capture) or serverless (pay per request; "
                                          "the classifier captures)"},
            "Rollout": {"Type": "String", "Default": defaults.ROLLOUT,
                        "AllowedPattern": r"(all-at-once( \d+[smh]?)?)|((canary|linear) \d+% \d+[smh]?)",
                        "Description": "how an approved version takes traffic: all-at-once, canary 10% 5m, "
                                       "linear 20% 2m (the alarms roll it back)"},
            "ServerlessMemoryInMB": {"Type": "Number", "Default": defaults.SERVERLESS_MEMORY_MB,
                                     "AllowedValues": [1024, 2048, 3072, 4096, 5120, 6144]},
            "ServerlessMaxConcurrency": {"Type": "Number", "Default": defaults.SERVERLESS_MAX_CONCURRENCY,
                                         "MinValue": 1, "MaxValue": 200},
        },
        "Conditions": {"RetrainOnDriftEnabled": {"Fn::Equals": [{"Ref": "RetrainOnDrift"}, "true"]},
                       "IsServerless": {"Fn::Equals": [{"Ref": "DeployMode"}, "serverless"]},
                       "HasProvisionedConcurrency": {"Fn::Not": [{"Fn::Equals": [
                           {"Ref": "ProvisionedConcurrency"}, 0]}]}},
        "Resources": resources,
        "Outputs": {**{name: {"Value": {"Ref": name}}
                       for name in ("InferenceStateMachine", "BatchInferenceStateMachine", "NotificationTopic",
                                    "BuildProject")},
                    "ReviewFlowRoleArn": {"Value": {"Fn::GetAtt": ["ReviewFlowRole", "Arn"]},
                                          "Description": "--role-arn of scones infra review-flow"},
                    "ClassifyUrl": {"Value": _sub("https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
                                                  "/classify"),
                                    "Description": "POST an image here"}},
    }

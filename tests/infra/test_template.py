"""The CloudFormation template: cfn-lint clean, least-privilege IAM, the SDK's state machines."""

import json
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from scones.infra.package import build_lambda_zip
from scones.infra.template import UNSCOPABLE_ACTIONS, build_template, state_machine_definitions


@pytest.fixture(scope="module")
def template():
    return build_template()


def test_cfn_lint_passes(template, tmp_path):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    import shutil
    from pathlib import Path

    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint is in the [test] extra"
    result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _statements(template):
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_iam_least_privilege(template):
    """No '*' or 'service:*' actions; Resource '*' only for actions AWS cannot scope."""
    statements = list(_statements(template))
    assert len(statements) > 20
    for role, statement in statements:
        actions = _as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{role}: wildcard action {action}"
        if "*" in _as_list(statement["Resource"]):
            broad = set(actions) - UNSCOPABLE_ACTIONS
            assert not broad, f"{role}: Resource '*' for scopable actions {sorted(broad)}"


def test_iam_walker_catches_a_wildcard(template):
    """The walker itself must fail on the shapes it forbids."""
    import copy

    broken = copy.deepcopy(template)
    broken["Resources"]["FilterFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})
    with pytest.raises(AssertionError, match="Resource"):
        test_iam_least_privilege(broken)
    broken["Resources"]["FilterFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][-1] = \
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    with pytest.raises(AssertionError, match="wildcard action"):
        test_iam_least_privilege(broken)


def test_state_machines_are_the_sdk_definitions(template):
    for name, document in state_machine_definitions().items():
        assert json.loads(template["Resources"][name]["Properties"]["DefinitionString"]) == document
    single = template["Resources"]["InferenceStateMachine"]["Properties"]
    assert set(single["DefinitionSubstitutions"]) == {"SerializeFunctionArn", "ClassifierFunctionArn",
                                                      "FilterFunctionArn", "AuditSampleFunctionArn",
                                                      "ReviewFunctionArn",
                                                      "NotificationTopicArn"}
    states = {name: json.loads(template["Resources"][name]["Properties"]["DefinitionString"])["States"]
              for name in ("InferenceStateMachine", "BatchInferenceStateMachine")}
    assert "Map" not in {state["Type"] for state in states["InferenceStateMachine"].values()}, "one image, no Map"
    assert [state["Type"] for state in states["BatchInferenceStateMachine"].values()] == ["Map"]


def test_event_rules_watch_this_group(template):
    approval = template["Resources"]["ApprovalRule"]["Properties"]["EventPattern"]
    assert approval["detail-type"] == ["SageMaker Model Package State Change"]
    assert approval["detail"]["ModelApprovalStatus"] == [{"anything-but": "PendingManualApproval"}]
    assert approval["detail"]["ModelPackageGroupName"] == [{"Ref": "ModelPackageGroupName"}]
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    handlers = {r["Properties"]["Handler"] for r in functions}
    assert handlers == {"lambdas.serialize_image_data.handler", "lambdas.classifier.handler",
                        "lambdas.filter_low_confidence.handler", "lambdas.deploy_model.handler",
                        "lambdas.notify_registration.handler", "lambdas.notify_pipeline_failure.handler",
                        "lambdas.start_human_review.handler", "lambdas.sample_for_audit.handler",
                        "lambdas.classify_api.handler"}


#: The handlers and what they import are pure Python; a zip past this has picked up something it should not.
LAMBDA_ZIP_BUDGET = 72_000  # deflated: 40.7 KB before human review, 55.3 KB with its two tasks and the A2I
# backend, 66.5 KB with the deployment modes (the deployer) and capture records (the serverless classifier)


def test_lambda_zip_holds_what_the_handlers_import_and_nothing_else(tmp_path):
    from scones.infra.package import handler_modules

    archive = build_lambda_zip(tmp_path / "lambda.zip")
    assert archive.read_bytes() == build_lambda_zip(tmp_path / "again.zip").read_bytes(), "deterministic"
    assert archive.stat().st_size < LAMBDA_ZIP_BUDGET, f"{archive.stat().st_size} bytes"
    with zipfile.ZipFile(archive) as contents:
        names = set(contents.namelist())
        contents.extractall(tmp_path / "code")
    assert not {n for n in names if n.startswith(("scones/ui/", "scones/engine/", "scones/commands/",
                                                   "scones/serving/", "processing/", "training/"))}, names
    assert "scones/cli.py" not in names
    code = f"import {', '.join(handler_modules())}; print(lambdas.__file__)"
    # -S: no site-packages, so the editable install of this repo cannot fill in a module the zip lacks
    site_packages = sysconfig.get_paths()["purelib"]
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path / "code", capture_output=True,
                            text=True, env={"PYTHONPATH": f"{tmp_path / 'code'}:{site_packages}",
                                            "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path / "code"))


def test_new_data_and_a_schedule_start_the_training_pipeline(template):
    resources = template["Resources"]
    new_data = resources["NewDataRule"]["Properties"]
    assert new_data["EventPattern"]["detail-type"] == ["Object Created"]
    assert new_data["EventPattern"]["detail"]["object"]["key"] == [{"prefix": {"Fn::Sub": "${ProjectName}/data/"}}]
    assert resources["RetrainScheduleRule"]["Properties"]["ScheduleExpression"] == {"Ref": "RetrainSchedule"}
    reviewed = resources["ReviewedDataRule"]["Properties"]["EventPattern"]["detail"]["object"]["key"]
    assert reviewed == [{"Fn::Sub": "${ProjectName}/reviewed/review-export.json"}], "one run per export"
    for rule in ("NewDataRule", "RetrainScheduleRule", "ReviewedDataRule"):
        target = resources[rule]["Properties"]["Targets"][0]
        assert ":pipeline/" in target["Arn"]["Fn::Sub"]
        parameters = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
        assert parameters == {"InputDataUrl": {"Fn::Sub": "s3://${ArtifactBucket}/${ProjectName}/data"},
                              "ReviewedDataUrl": {"Fn::Sub": "s3://${ArtifactBucket}/${ProjectName}/reviewed"}}


def test_every_lambda_rule_targets_the_right_function_with_a_matching_permission(template):
    """Approval events reach the deployer, registrations the notifier; each invoke is permitted for that rule only."""
    resources = template["Resources"]
    expected = {"ApprovalRule": ("DeployerFunction", "lambdas.deploy_model.handler"),
                "RegistrationRule": ("RegistrationNotifierFunction", "lambdas.notify_registration.handler")}
    for rule, (function, handler) in expected.items():
        [target] = resources[rule]["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
        assert resources[function]["Properties"]["Handler"] == handler
        permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                       and r["Properties"].get("SourceArn") == {"Fn::GetAtt": [rule, "Arn"]}]
        assert permissions == [{"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": function},
                                "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}]
    registration = resources["RegistrationRule"]["Properties"]["EventPattern"]
    assert registration["detail"]["ModelApprovalStatus"] == ["PendingManualApproval"]


def test_failed_pipeline_executions_of_this_project_reach_the_failure_notifier(template):
    resources = template["Resources"]
    rule = resources["PipelineFailedRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["SageMaker Model Building Pipeline Execution Status Change"]
    assert rule["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == ["Failed"]
    [prefix] = rule["EventPattern"]["detail"]["pipelineArn"]
    assert prefix["prefix"]["Fn::Sub"].endswith(":pipeline/${ProjectName}")
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["PipelineFailureNotifierFunction", "Arn"]}
    permission = resources["PipelineFailedRulePermission"]["Properties"]
    assert permission["SourceArn"] == {"Fn::GetAtt": ["PipelineFailedRule", "Arn"]}
    statements = resources["PipelineFailureNotifierFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    actions = {a for st in statements["Statement"] for a in st["Action"]}
    assert {"sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps", "sns:Publish"} <= actions


def test_a_schedule_runs_the_drift_check_pipeline_which_may_only_start_the_training_pipeline(template):
    resources = template["Resources"]
    rule = resources["MonitorScheduleRule"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "MonitorSchedule"}
    [target] = rule["Targets"]
    assert target["Arn"]["Fn::Sub"].endswith(":pipeline/${ProjectName}-monitor")
    parameters = {p["Name"]: p["Value"] for p in target["SageMakerPipelineParameters"]["PipelineParameterList"]}
    assert parameters["NotifyTopicArn"] == {"Ref": "NotificationTopic"}
    assert parameters["RetrainPipeline"] == {"Fn::If": ["RetrainOnDriftEnabled", {"Fn::Sub": "${ProjectName}-p1"},
                                                        "none"]}
    assert "datacapture/${EndpointName}" in parameters["CaptureUri"]["Fn::Sub"]
    schedule_role = resources["MonitorScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert schedule_role == [{"Effect": "Allow", "Action": ["sagemaker:StartPipelineExecution"],
                              "Resource": target["Arn"]}]
    sagemaker = resources["SageMakerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    starts = [st for st in sagemaker if "sagemaker:StartPipelineExecution" in st["Action"]]
    assert [st["Resource"]["Fn::Sub"] for st in starts] == [
        "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/${ProjectName}-p1"]


def test_request_path_functions_are_called_through_warm_live_aliases(template):
    resources = template["Resources"]
    for function in ("SerializeFunction", "ClassifierFunction", "FilterFunction", "ClassifyApiFunction"):
        alias = resources[f"{function}LiveAlias"]["Properties"]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [f"{function}Version", "Version"]}
        assert alias["ProvisionedConcurrencyConfig"]["Fn::If"][0] == "HasProvisionedConcurrency"
        assert alias["ProvisionedConcurrencyConfig"]["Fn::If"][1] == {
            "ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}}
    assert template["Parameters"]["ProvisionedConcurrency"]["Default"] == 3
    for machine in ("InferenceStateMachine", "BatchInferenceStateMachine"):
        properties = resources[machine]["Properties"]
        assert properties["DefinitionSubstitutions"]["ClassifierFunctionArn"] == {"Ref": "ClassifierFunctionLiveAlias"}
        logging = properties["LoggingConfiguration"]
        assert logging["Level"] == "ERROR" and logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
            "Fn::GetAtt": ["StateMachineLogs", "Arn"]}
    invoke = resources["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert invoke["Resource"] == [{"Ref": f"{f}LiveAlias"} for f in ("SerializeFunction", "ClassifierFunction",
                                                                       "FilterFunction", "AuditSampleFunction",
                                                                       "ReviewFunction")]


def test_an_https_api_with_cors_fronts_the_classifier(template):
    resources = template["Resources"]
    api = resources["HttpApi"]["Properties"]
    assert api["ProtocolType"] == "HTTP"
    assert api["CorsConfiguration"]["AllowOrigins"] == {"Ref": "ApiAllowedOrigins"}
    assert resources["ClassifyRoute"]["Properties"]["RouteKey"] == "POST /classify"
    integration = resources["ClassifyIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Ref": "ClassifyApiFunctionLiveAlias"}
    permission = resources["ClassifyApiPermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "ClassifyApiFunctionLiveAlias"}
    assert permission["SourceArn"]["Fn::Sub"].endswith("${HttpApi}/*/POST/classify")


def test_alarms_are_the_blue_green_rollback_alarms_and_data_is_encrypted(template):
    resources = template["Resources"]
    names = {resources[a]["Properties"]["AlarmName"]["Fn::Sub"] for a in ("Endpoint5xxAlarm", "ModelLatencyAlarm")}
    deployer_env = resources["DeployerFunction"]["Properties"]["Environment"]["Variables"]
    assert set(deployer_env["ROLLBACK_ALARMS"]["Fn::Sub"].split(",")) == names
    assert resources["ModelLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
    workflow = resources["WorkflowFailuresAlarm"]["Properties"]
    assert (workflow["Namespace"], workflow["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert deployer_env["KMS_KEY_ID"] == {"Ref": "DataKey"}
    assert resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    key = resources["DataKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    for statement in key["KeyPolicy"]["Statement"]:
        assert all(not a.endswith("*") for a in statement["Action"]), "no wildcard actions in the key policy"
    for role in ("SageMakerRole", "DeployerFunctionRole", "StateMachineRole"):
        statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert any(st["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]} and "kms:GenerateDataKey" in st["Action"]
                   for st in statements), role

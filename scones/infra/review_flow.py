"""The A2I side of human review, which CloudFormation cannot create: the worker task template and the flow.

Amazon A2I has no CloudFormation resource type, so ``scones infra review-flow`` makes both with
the SageMaker API, by the names the template already points the review task at
(``<project>-review``, :data:`scones.infra.template.REVIEW_FLOW_ARN`): a human task UI holding
:data:`WORKER_TEMPLATE`, and a flow definition for a custom task type (no activation
conditions: the workflow decides what goes to a person) with one worker per item, the private
workteam given, and output under ``<prefix>/review/``, where ground truth is read from.

Running it again changes nothing when both exist as asked; a flow definition cannot be updated,
so one that differs (another workteam, output or role) is refused by name with the command that
removes it. moto has no A2I: the tests check every request against botocore's model (Stubber).
"""

from __future__ import annotations

from dataclasses import dataclass

from scones.errors import Conflict, SconesError

#: The worker's page, in A2I's Liquid with the crowd HTML elements. ``crowd-classifier`` named
#: ``label`` answers ``{"label": {"label": "<choice>"}}``, the answer :mod:`scones.review.output`
#: reads, for both backends. The input is :func:`scones.review.output.input_content`.
WORKER_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier name="label" categories="{{ task.input.choices | to_json | escape }}"
                    header="What does this delivery photo show?">
    <classification-target>
      <img src="{{ task.input.image | grant_read_access }}" style="max-width: 100%; max-height: 60vh;">
    </classification-target>
    <short-instructions>
      <p>The model's top guesses{% if task.input.model_version %}
        (model v{{ task.input.model_version }}){% endif %}:</p>
      <ul>{% for guess in task.input.top_guesses %}
        <li>{{ guess.label | escape }}: {{ guess.percent }} %</li>{% endfor %}</ul>
      <p>Why it is here: {{ task.input.reason | escape }}</p>
    </short-instructions>
    <full-instructions header="How to answer">
      <p>Choose the class the photo shows, whatever the model guessed.</p>
      <p><b>none of these</b>: the photo shows something, but none of the classes.</p>
      <p><b>can't tell</b>: nobody could decide from this photo (too dark, blurred, cut off, not a photo).</p>
      <p>Your answer becomes ground truth: it measures the model's live accuracy and trains the next one.</p>
    </full-instructions>
  </crowd-classifier>
</crowd-form>
"""
TASK_TITLE = "Classify a delivery photo"
TASK_DESCRIPTION = "Choose the class the photo shows, 'none of these' or 'can't tell'."


@dataclass(frozen=True)
class ReviewFlow:
    project: str
    workteam_arn: str
    role_arn: str
    output_uri: str  # s3://<bucket>/<prefix>/review

    @property
    def flow_name(self) -> str:
        return f"{self.project}-review"

    @property
    def ui_name(self) -> str:
        return f"{self.project}-review-ui"

    def flow_request(self, ui_arn: str) -> dict:
        return {"FlowDefinitionName": self.flow_name, "RoleArn": self.role_arn,
                "HumanLoopConfig": {"WorkteamArn": self.workteam_arn, "HumanTaskUiArn": ui_arn,
                                    "TaskTitle": TASK_TITLE, "TaskDescription": TASK_DESCRIPTION, "TaskCount": 1,
                                    "TaskTimeLimitInSeconds": 3600,
                                    "TaskAvailabilityLifetimeInSeconds": 7 * 24 * 3600},
                "OutputConfig": {"S3OutputPath": self.output_uri}}


def _missing(exc) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("ResourceNotFound", "ResourceNotFoundException")


def _ui_arn(client, flow: ReviewFlow) -> tuple[str, bool]:
    """(the task UI's ARN, whether it was made now)."""
    from botocore.exceptions import ClientError

    try:
        return client.describe_human_task_ui(HumanTaskUiName=flow.ui_name)["HumanTaskUiArn"], False
    except ClientError as exc:
        if not _missing(exc):
            raise SconesError(f"DescribeHumanTaskUi {flow.ui_name} failed: {exc}") from exc
    made = client.create_human_task_ui(HumanTaskUiName=flow.ui_name, UiTemplate={"Content": WORKER_TEMPLATE})
    return made["HumanTaskUiArn"], True


def _differences(existing: dict, wanted: dict) -> list[str]:
    config, asked = existing.get("HumanLoopConfig", {}), wanted["HumanLoopConfig"]
    pairs = [("workteam", config.get("WorkteamArn"), asked["WorkteamArn"]),
             ("task UI", config.get("HumanTaskUiArn"), asked["HumanTaskUiArn"]),
             ("output", existing.get("OutputConfig", {}).get("S3OutputPath"), wanted["OutputConfig"]["S3OutputPath"]),
             ("role", existing.get("RoleArn"), wanted["RoleArn"])]
    return [f"{what} {have} (asked: {want})" for what, have, want in pairs if have != want]


def set_up(client, flow: ReviewFlow) -> dict:
    """Make the task UI and the flow definition unless they exist as asked; what was done, per resource."""
    from botocore.exceptions import ClientError

    ui_arn, ui_made = _ui_arn(client, flow)
    wanted = flow.flow_request(ui_arn)
    try:
        existing = client.describe_flow_definition(FlowDefinitionName=flow.flow_name)
    except ClientError as exc:
        if not _missing(exc):
            raise SconesError(f"DescribeFlowDefinition {flow.flow_name} failed: {exc}") from exc
        existing = None
    if existing is not None:
        differences = _differences(existing, wanted)
        if differences:
            raise Conflict(f"flow definition {flow.flow_name} exists with another {'; '.join(differences)}; a flow "
                           f"cannot be updated: aws sagemaker delete-flow-definition --flow-definition-name "
                           f"{flow.flow_name}, wait until it is gone, then run this again")
        flow_arn, flow_made = existing["FlowDefinitionArn"], False
    else:
        try:
            flow_arn, flow_made = client.create_flow_definition(**wanted)["FlowDefinitionArn"], True
        except ClientError as exc:
            raise SconesError(f"CreateFlowDefinition {flow.flow_name} failed: {exc}") from exc
    return {"task_ui": {"arn": ui_arn, "created": ui_made}, "flow": {"arn": flow_arn, "created": flow_made},
            "review_queue": f"a2i://{flow_arn}"}

"""Adding a Lambda to the workflow is one row in the task table and one handler file.

Done as a new developer would, on a copy of the code: append a no-op row to
``inference_workflow/tasks.py``, write ``lambdas/audit_noop.py``, touch nothing else, and
watch the Step Functions definition, the CloudFormation template and a local run (a real
endpoint behind the classifier) all gain the task.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from common.packaging import PROJECT_PACKAGES
from tests import support

ROOT = Path(__file__).resolve().parents[2]
ROW = ('    Task(state="AuditImage", handler="lambdas.audit_noop", logical_id="AuditFunction", function="audit",\n'
       '         permissions=("read_images",)),\n')
HANDLER = '''"""A no-op workflow task: hands the event on unchanged."""

from lambdas._runtime import entry_point


def make_handler(env, clients):
    return lambda event, context=None: event


handler = entry_point(make_handler)
'''
PROBE = """
import json, sys
import inference_workflow.tasks as tasks
from inference_workflow.workflow import definition
from inference_workflow.workflow_config import WorkflowConfig
from scones.infra.template import build_template
from scones.workflow.runtime import EndpointTarget, LocalWorkflowRunner, workflow_handlers

url, image = sys.argv[1], sys.argv[2]
config = WorkflowConfig()
single, batch = definition(config), definition(config, batch=True)
template = build_template()
handlers = workflow_handlers(config, EndpointTarget(url, "scones-endpoint", ("bicycle", "motorcycle"), 0.0))
with LocalWorkflowRunner(handlers, config) as runner:
    runner.put_image("a.png", open(image, "rb").read())
    one = runner.classify_one("a.png")
    many = runner.classify_batch(["a.png", "a.png"])
    calls = runner.lambdas.calls
print(json.dumps({
    "tasks_file": tasks.__file__,
    "single": list(single["States"]), "chain": [s.get("Next") for s in single["States"].values()],
    "batch": list(batch["States"]["ClassifyEachImage"]["Iterator"]["States"]),
    "resources": template["Resources"],
    "statuses": [one.status] + [r.status for r in many], "calls": calls}))
"""


def _copy_with_a_new_task(target: Path) -> None:
    for package in PROJECT_PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    tasks = target / "inference_workflow" / "tasks.py"
    text = tasks.read_text(encoding="utf-8")
    end = text.index("\n)\n", text.index("TASKS: tuple[Task, ...] = ("))
    tasks.write_text(text[:end + 1] + ROW + text[end + 1:], encoding="utf-8")
    (target / "lambdas" / "audit_noop.py").write_text(HANDLER, encoding="utf-8")


def test_a_new_task_is_one_row_and_one_file(tmp_path, endpoint):
    copy = tmp_path / "repo"
    _copy_with_a_new_task(copy)
    changed = sorted(str(p.relative_to(copy)) for p in copy.rglob("*.py")
                     if not (ROOT / p.relative_to(copy)).exists()
                     or (ROOT / p.relative_to(copy)).read_bytes() != p.read_bytes())
    assert changed == ["inference_workflow/tasks.py", "lambdas/audit_noop.py"]
    image = tmp_path / "a.png"
    image.write_bytes(support.random_png(seed=3))
    server, _, _ = endpoint
    result = subprocess.run([sys.executable, "-c", PROBE, server.url, str(image)], cwd=copy, capture_output=True,
                            text=True, timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(copy)})
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(seen["tasks_file"]).is_relative_to(copy), "the probe must run the copy, not the checkout"

    # the definition: the new state runs last, in the single-image machine and in the Map
    chain = ["SerializeImageData", "ClassifyImage", "FilterLowConfidence", "SampleForAudit", "AuditImage"]
    assert seen["single"][:5] == chain and seen["batch"][:5] == chain
    assert seen["chain"][3] == "AuditImage"
    # the template: the function, its role with the named permission, its live alias, and the state machine's grant
    resources = seen["resources"]
    function = resources["AuditFunction"]["Properties"]
    assert function["Handler"] == "lambdas.audit_noop.handler"
    assert function["FunctionName"] == {"Fn::Sub": "${ProjectName}-audit"}
    statements = resources["AuditFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(s["Action"] == ["s3:GetObject"] for s in statements)
    assert resources["AuditFunctionLiveAlias"]["Properties"]["Name"] == "live"
    machine = resources["InferenceStateMachine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["AuditFunctionArn"] == {"Ref": "AuditFunctionLiveAlias"}
    assert "${AuditFunctionArn}" in machine["DefinitionString"]
    invoke = resources["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert {"Ref": "AuditFunctionLiveAlias"} in invoke["Resource"]
    # the local run: the new handler ran once per image, and the images still pass
    assert seen["statuses"] == ["passed", "passed", "passed"]
    assert seen["calls"]["scones-audit"] == 3

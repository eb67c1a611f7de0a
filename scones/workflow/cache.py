"""Rendered state machines, cached by what they depend on.

Importing the Step Functions Data Science SDK imports the SageMaker SDK (~2-3 s
on 2 cores); the document it renders depends only on ``inference_workflow/workflow.py``,
the configuration (task table included) and the SDK version. A local ``scones classify`` reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import inference_workflow
from inference_workflow.workflow_config import WorkflowConfig

#: What the rendered document depends on besides the configuration (which carries the task table).
_SOURCE = Path(inference_workflow.__file__).with_name("workflow.py")


def cached_definition(config: WorkflowConfig, batch: bool, cache_dir: Path | None) -> dict:
    key = hashlib.sha256(json.dumps([dataclasses.asdict(config), batch, version("stepfunctions")],
                                    sort_keys=True).encode() + _SOURCE.read_bytes()).hexdigest()[:32]
    path = Path(cache_dir) / f"{key}.json" if cache_dir else None
    if path is not None and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from pipelines.sdk import quiet_sdk_logs

    quiet_sdk_logs()
    from inference_workflow.workflow import definition

    document = definition(config, batch)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document), encoding="utf-8")
    return document

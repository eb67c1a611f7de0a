"""The runs table: a pipeline column, and a failed step counted as failed."""

import time

from scones.engine.records import FAILED, NOT_EXECUTED, SUCCEEDED, ExecutionRecord, StepRecord, list_executions
from scones.ui.app import create_app


def test_runs_table_names_the_pipeline_and_counts_failed_steps(workspace):
    runs = workspace.workspace.runs
    steps = [StepRecord("EtlCifar", "Processing", SUCCEEDED), StepRecord("CheckImages", "Processing", FAILED),
             StepRecord("TrainModel", "Training", NOT_EXECUTED)]
    ExecutionRecord("SconesTuning", "e1", "arn", {}, status=FAILED, started=time.time(), ended=time.time(),
                    folder=str(runs / "SconesTuning" / "e1"), steps=steps).save()
    html = create_app(workspace).test_client().get("/", base_url="http://127.0.0.1:8090").get_data(as_text=True)
    assert "<td>SconesTuning</td>" in html
    assert "1 succeeded, 1 failed, 1 not executed" in html


def test_start_run_is_refused_while_a_run_of_the_pipeline_is_executing(workspace):
    """One run at a time per pipeline: the form gives way to a link, and a forged start is refused."""
    import os
    import re

    from scones.engine.launcher import pipeline_definition
    from scones.engine.records import EXECUTING

    name, _ = pipeline_definition(workspace)
    runs = workspace.workspace.runs
    ExecutionRecord(name, "busy1", "arn", {}, status=EXECUTING, started=time.time(), pid=os.getpid(),
                    folder=str(runs / name / "busy1"), steps=[StepRecord("EtlCifar", "Processing", EXECUTING)]).save()
    client = create_app(workspace).test_client()
    html = client.get("/", base_url="http://127.0.0.1:8090").get_data(as_text=True)
    assert 'id="run-in-progress"' in html and "busy1" in html and 'id="start-form"' not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/runs", base_url="http://127.0.0.1:8090", data={"csrf_token": token, "param.Epochs": "2"},
                           headers={"Origin": "http://127.0.0.1:8090"})
    assert response.status_code == 302
    assert "already+running+execution+busy1" in response.headers["Location"]
    assert [r.execution_id for r in list_executions(runs)] == ["busy1"], "nothing else started"

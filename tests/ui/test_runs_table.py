"""The runs table: a pipeline column, and a failed step counted as failed."""

import time

from scones.engine.records import FAILED, NOT_EXECUTED, SUCCEEDED, ExecutionRecord, StepRecord
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

"""The run page stops a running execution and says what a selective or retried execution did."""

import re
import subprocess
import sys
import time

from scones.engine.records import EXECUTING, NOT_EXECUTED, SUCCEEDED, ExecutionRecord, StepRecord, find_execution
from scones.ui.app import create_app

SITE = "http://127.0.0.1:8090"


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path, base_url=SITE).get_data(as_text=True))[1]


def test_the_stop_button_stops_a_running_execution_and_refuses_a_cross_site_post(workspace):
    runs = workspace.workspace.runs
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ExecutionRecord("P", "live1", "arn", {}, status=EXECUTING, started=time.time(), pid=child.pid,
                        folder=str(runs / "P" / "live1"),
                        steps=[StepRecord("TrainModel", "Training", EXECUTING, started=time.time())]).save()
        client = create_app(workspace).test_client()
        html = client.get("/runs/live1", base_url=SITE).get_data(as_text=True)
        assert 'id="stop-run"' in html
        forged = client.post("/runs/live1/stop", base_url=SITE, headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
        assert find_execution(runs, "live1").status == EXECUTING, "a cross-site request stops nothing"
        token = _token(client, "/runs/live1")
        response = client.post("/runs/live1/stop", base_url=SITE, data={"csrf_token": token},
                               headers={"Origin": SITE})
        assert response.status_code == 302 and "stopping+execution+live1" in response.headers["Location"]
        assert child.wait(timeout=20) != 0
        deadline = time.monotonic() + 20
        while find_execution(runs, "live1").status == EXECUTING and time.monotonic() < deadline:
            time.sleep(0.1)
        record = find_execution(runs, "live1")
        assert (record.status, record.step("TrainModel").status) == ("Stopped", "Stopped")
        html = client.get("/runs/live1", base_url=SITE).get_data(as_text=True)
        assert 'id="stop-run"' not in html and 'class="Stopped" id="run-status"' in html
    finally:
        child.kill()


def test_a_selective_execution_names_its_steps_and_its_source(workspace):
    runs = workspace.workspace.runs
    steps = [StepRecord("EtlCifar", "Processing", NOT_EXECUTED, reused_from="src1",
                        summary="not selected: outputs of execution src1"),
             StepRecord("TrainModel", "Training", SUCCEEDED)]
    ExecutionRecord("P", "sel1", "arn", {}, status=SUCCEEDED, started=time.time(), ended=time.time(),
                    folder=str(runs / "P" / "sel1"), steps=steps, attempts=2,
                    selective={"SelectedSteps": [{"StepName": "TrainModel"}],
                               "SourcePipelineExecutionArn": "arn:aws:sagemaker:local:0:pipeline/p/execution/src1"}
                    ).save()
    html = create_app(workspace).test_client().get("/runs/sel1", base_url=SITE).get_data(as_text=True)
    assert re.search(r'id="selective">Selective execution: only <b>TrainModel</b>\s+ran; the steps before them kept '
                     r'the outputs of execution\s+<a href="/runs/src1">src1</a>', html)
    assert "not selected: outputs of execution src1" in html and "(attempt 2)" in html

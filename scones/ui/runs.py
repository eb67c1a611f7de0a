"""Pipeline runs: start one with the definition's parameters, follow it step by step, open its artifacts."""

from __future__ import annotations

import io
import json

from flask import Blueprint, abort, redirect, request, send_file, url_for

from scones.engine.records import list_executions
from scones.errors import SconesError
from scones.ui import svg, templates, views
from scones.ui.context import dashboard

bp = Blueprint("runs", __name__)


def sagemaker_runs(pipeline_name: str, client, limit: int = 10) -> list[dict]:
    """Executions of a SageMaker pipeline, shaped like the local rows (steps when the API lists them)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from scones import pipeline_service

    try:
        summaries = client.list_pipeline_executions(PipelineName=pipeline_name, SortBy="CreationTime",
                                                    SortOrder="Descending", MaxResults=limit)
    except (BotoCoreError, ClientError) as exc:
        return [{"execution_id": pipeline_name, "status": "unavailable", "started_text": "", "took": "",
                 "summary": f"SageMaker: {exc}", "link": None}]
    rows = []
    for item in summaries["PipelineExecutionSummaries"]:
        status = pipeline_service.describe(client, item["PipelineExecutionArn"])
        done = sum(s.get("StepStatus") == "Succeeded" for s in status.steps)
        started = item.get("StartTime")
        rows.append({"pipeline": pipeline_name,
                     "execution_id": item["PipelineExecutionArn"].rsplit("/", 1)[-1], "status": status.status,
                     "started_text": started.strftime("%Y-%m-%d %H:%M:%S") if started else "", "took": "",
                     "summary": f"SageMaker: {done}/{len(status.steps)} steps succeeded" if status.steps
                     else f"SageMaker {status.failure_reason}".strip(), "link": None})
    return rows


def run_rows(shown: str | None) -> tuple[list[dict], list[str]]:
    """The newest runs (of pipeline ``shown``, or all) with links, and the pipelines that have local runs."""
    board = dashboard()
    records = list_executions(board.settings.workspace.runs)
    rows = [{**views.run_row(r), "link": url_for("runs.run", execution=r.execution_id)}
            for r in records if shown in (None, r.pipeline_name)][:15]
    if board.sagemaker_pipeline and shown in (None, board.sagemaker_pipeline):
        rows.extend(sagemaker_runs(board.sagemaker_pipeline,
                                   board.sagemaker_client or board.settings.aws_client("sagemaker")))
    return rows, sorted({r.pipeline_name for r in records})


@bp.post("/runs")
def start_run():
    from scones.engine.launcher import launch

    prefix = "param."
    parameters = {k[len(prefix):]: v.strip() for k, v in request.form.items() if k.startswith(prefix)}
    try:
        started = launch(dashboard().settings, parameters)
    except SconesError as exc:
        return redirect(url_for("home.index", message=exc.message, _anchor="start"))
    return redirect(url_for(".run", execution=started.execution_id,
                            message=f"started {started.pipeline} execution {started.execution_id}"))


def _find_run(execution: str):
    records = [r for r in list_executions(dashboard().settings.workspace.runs) if r.execution_id == execution]
    if not records:
        abort(404)
    return records[0]


@bp.get("/runs/<execution>")
def run(execution: str):
    board = dashboard()
    record = _find_run(execution)
    store = board.settings.store()
    steps = [{"name": s.name, "status": s.status, "depends_on": s.depends_on, "seconds": s.seconds}
             for s in record.steps]
    return board.page(f"run {execution}", templates.RUN, refresh=2 if record.status == "Executing" else None,
                      record=record, dag=svg.pipeline_dag(steps), steps=views.ordered_steps(record),
                      artifacts={s.name: views.step_artifacts(s, store) for s in record.steps},
                      logs={s.name: views.log_tail(s) for s in record.steps}, console=views.console_tail(record),
                      parameters=json.dumps(record.parameters, indent=2))


@bp.post("/runs/<execution>/stop")
def stop_run(execution: str):
    """Stop a running execution as ``scones pipeline stop`` does; the page follows it to Stopped."""
    import threading

    from scones.engine.control import stop_execution

    record = _find_run(execution)
    if record.status != "Executing":
        return redirect(url_for(".run", execution=execution,
                                message=f"execution {execution} is {record.status}: nothing to stop"))
    threading.Thread(target=stop_execution, args=(record,), daemon=True, name=f"stop-{execution}").start()
    return redirect(url_for(".run", execution=execution, message=f"stopping execution {execution}"))


@bp.get("/runs/<execution>/artifacts/<step>/<int:index>")
def artifact(execution: str, step: str, index: int):
    store = dashboard().settings.store()
    record = _find_run(execution)
    try:
        found = views.step_artifacts(record.step(step), store)[index]
    except (KeyError, IndexError):
        abort(404)
    name = found["name"]
    mimetype = {"json": "application/json", "png": "image/png"}.get(name.rsplit(".", 1)[-1],
                                                                    "application/octet-stream")
    try:
        data = views.read_artifact(store, found)
    except SconesError:
        abort(404)
    if data is None:
        abort(404)
    return send_file(io.BytesIO(data), mimetype=mimetype, download_name=name,
                     as_attachment=mimetype == "application/octet-stream")

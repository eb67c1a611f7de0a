"""The front page: versions, the endpoint, live traffic, runs and the run form, on one screen."""

from __future__ import annotations

from flask import Blueprint, request

from scones.ui import svg, templates, views
from scones.ui.context import dashboard
from scones.ui.runs import run_rows

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    from scones.engine.launcher import pipeline_definition, running
    from scones.monitor.report import build_report

    board = dashboard()
    settings = board.settings
    versions = board.list_versions()
    endpoint = board.endpoint_status()
    state = views.deployment(versions, endpoint)
    runs, pipelines = run_rows(request.args.get("pipeline"))
    scan = board.capture_scan()
    ref = board.monitoring(scan)
    capture = build_report(scan, ref.classes, settings.threshold, ref.evaluation, ref.by_version)
    name, definition = pipeline_definition(settings)
    try:
        result = views.classification_result(request.args["result"]) if request.args.get("result") else None
    except ValueError as exc:
        return board.bad_request(str(exc))
    chart = svg.line_chart([(v.version, v.accuracy) for v in versions if v.accuracy is not None])
    return board.page("dashboard", templates.INDEX, refresh=2 if state.deploying else None, endpoint=endpoint,
                      deployment=state, versions=versions, runs=runs, group=settings.model_group, chart=chart,
                      capture=capture, result=result, capture_hours=board.capture_hours,
                      threshold=settings.threshold, pipeline_name=name, parameters=definition.get("Parameters", []),
                      running=running(settings.workspace.runs, name), pipelines=pipelines)

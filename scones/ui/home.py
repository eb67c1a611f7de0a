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
                      running=running(settings.workspace.runs, name), pipelines=pipelines,
                      split=split_view(endpoint, scan, capture, settings))


def split_view(endpoint: dict | None, scan, capture: dict, settings) -> dict | None:
    """An A/B split's variants side by side (capture, counts, reviewed accuracy) and whether the difference is real.

    What each version answered comes from the capture report's per-version sections (``capture``), not a
    second pass over the predictions.
    """
    from scones.monitor.variants import two_proportion
    from scones.review.output import read_answers
    from scones.review.quality import model_quality

    variants = (endpoint or {}).get("variants") or []
    if len({v["variant"] for v in variants}) < 2:
        return None  # one version, or one variant's two fleets during a rollout
    answers, _ = read_answers(settings.store(), settings.review_output)
    quality = model_quality(answers, {p.inference_id for p in scan.predictions if p.inference_id})
    rows = []
    for variant in variants:
        key = str(variant["version"])
        graded, section = quality.get(key, {}), capture.get("by_version", {}).get(key, {})
        rows.append({**variant, "mean_confidence": section.get("mean_confidence"),
                     "below_threshold": section.get("share_below_threshold"),
                     "reviewed": graded.get("reviewed", 0), "correct": graded.get("correct", 0),
                     "accuracy": graded["correct"] / graded["reviewed"] if graded.get("reviewed") else None})
    first, second = sorted(rows, key=lambda r: -r["share"])[:2]
    return {"rows": rows, "test": two_proportion(first["correct"], first["reviewed"], second["correct"],
                                                 second["reviewed"])}

"""Live traffic: a test upload through the inference workflow, and the plot of what the endpoint captured."""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from flask import Blueprint, abort, redirect, request, send_file, url_for

from scones.ui.context import dashboard

bp = Blueprint("traffic", __name__)


@bp.post("/classify")
def classify():
    from scones.ui import views
    from scones.workflow.classify import classifier_capture, classify_images, review_target

    board = dashboard()
    settings = board.settings
    try:
        threshold = views.threshold_value(request.form.get("threshold"), settings.threshold)
    except ValueError as exc:
        return board.bad_request(str(exc))
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return redirect(url_for("home.index", message="choose an image file first"))
    endpoint = board.endpoint_status()
    if not endpoint or not endpoint.get("live"):
        return redirect(url_for("home.index", message="no endpoint is serving a model yet"))
    report = classify_images([(Path(upload.filename).name, upload.read())], endpoint["url"], endpoint["endpoint"],
                             endpoint["live"]["classes"], threshold,
                             cache_dir=settings.workflow_definitions, notifier=settings.notifier(),
                             review=review_target(settings), capture_uri=classifier_capture(settings))
    return redirect(url_for("home.index", result=json.dumps(asdict(report.results[0])), _anchor="classify"))


@bp.get("/monitor.png")
def monitor_png():
    from scones.monitor.report import plot_report

    board = dashboard()
    scan = board.capture_scan()
    ref = board.monitoring(scan)
    with tempfile.TemporaryDirectory(prefix="scones-ui-") as scratch:
        plot = plot_report(scan, ref.classes, board.settings.threshold, ref.evaluation, Path(scratch) / "report.png")
        if plot is None:
            abort(404)
        data = plot.read_bytes()
    return send_file(io.BytesIO(data), mimetype="image/png")

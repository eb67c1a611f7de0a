"""The dashboard: model versions and approvals, the live endpoint, monitoring, pipeline runs, a test upload.

Everything goes through the same interfaces the CLI uses -- the registry (so an
approval here emits the state-change event and redeploys the endpoint), the
endpoint's status, the monitoring report, the local run records, and the local
inference workflow for uploads. Flask renders plain HTML with server-side SVG,
so the page needs no network.
"""

from __future__ import annotations

import io
import json
import tempfile
import urllib.request
from dataclasses import asdict
from pathlib import Path

from flask import Flask, abort, redirect, render_template_string, request, send_file, url_for
from markupsafe import Markup

from scones.engine.records import list_executions
from scones.errors import SconesError
from scones.settings import Settings
from scones.ui import svg
from scones.ui.guard import CSRF_FIELD, TOKEN_COOKIE, Guard, is_loopback

LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><title>scones - {{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
 table { border-collapse: collapse; margin: .5rem 0 1rem; }
 td, th { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
 .status-Approved { color: #2e7d32; font-weight: bold; } .status-Rejected { color: #c62828; }
 .status-PendingManualApproval { color: #ef6c00; font-weight: bold; }
 .Succeeded { color: #2e7d32; } .Failed { color: #c62828; } .NotExecuted { color: #9e9e9e; }
 section { margin-bottom: 1.5rem; } pre { background: #f5f5f5; padding: .6rem; overflow-x: auto; }
 .flash { background: #fff3e0; padding: .5rem; border-left: 4px solid #ef6c00; }
</style></head><body>
<h1><a href="{{ url_for('index') }}">scones</a> - {{ title }}</h1>
{% if message %}<p class="flash" id="flash">{{ message }}</p>{% endif %}
{{ body|safe }}
</body></html>"""

INDEX = """
<section id="endpoint"><h2>Endpoint</h2>
{% if endpoint and endpoint.live %}
 <p>Endpoint <b>{{ endpoint.endpoint }}</b> is <b id="endpoint-status">{{ endpoint.status }}</b>, serving
 <b id="live-version">v{{ endpoint.live.version }}</b> since {{ endpoint.live.since }}
 ({{ endpoint.requests }} requests answered: {{ endpoint.invocations }} with predictions,
 {{ endpoint.errors }} with errors).</p>
{% else %}<p id="endpoint-status">No endpoint serving a model (start: <code>scones endpoint serve</code>;
 then approve a version).</p>{% endif %}
{% if endpoint and endpoint.failed_versions %}<p class="flash" id="deploy-failures">Approved but not deployed:
 {% for f in endpoint.failed_versions %}<b>v{{ f.version }}</b> ({{ f.reason }}){{ "; " if not loop.last }}{% endfor %}
</p>{% endif %}
</section>
<section id="versions"><h2>Model versions ({{ group }})</h2>
{{ chart|safe }}
<table><tr><th>version</th><th>status</th><th>accuracy</th><th>created</th><th>pipeline run</th><th></th></tr>
{% for v in versions %}
 <tr id="version-{{ v.version }}"><td>v{{ v.version }}</td>
  <td class="status-{{ v.status }}">{{ v.status }}</td>
  <td>{{ "%.4f"|format(v.accuracy) if v.accuracy is not none else "-" }}</td><td>{{ v.created[:19] }}</td>
  <td>{{ v.pipeline_execution.rsplit('/', 1)[-1] }}</td>
  <td>{% if v.status != "Approved" %}<form method="post" action="{{ url_for('set_status', version=v.version,
      status='Approved') }}" style="display:inline">{{ csrf_field }}
      <button id="approve-{{ v.version }}">Approve</button></form>
   {% endif %}
   {% if v.status != "Rejected" %}<form method="post" action="{{ url_for('set_status', version=v.version,
      status='Rejected') }}" style="display:inline">{{ csrf_field }}<input name="reason" placeholder="reason">
      <button id="reject-{{ v.version }}">Reject</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="6">No versions yet: <code>scones pipeline run</code> registers one.</td></tr>{% endfor %}
</table></section>
<section id="classify"><h2>Try an image</h2>
<form method="post" action="{{ url_for('classify') }}" enctype="multipart/form-data">{{ csrf_field }}
 <input type="file" name="image" id="upload" accept="image/*"> threshold
 <input name="threshold" value="0.93" size="4"> <button id="classify-button">Classify</button></form>
{% if result %}<p id="classify-result">{{ result.image }}: <b id="result-label">{{ result.label or "-" }}</b>
 {% if result.confidence is not none %}({{ "%.3f"|format(result.confidence) }}){% endif %} -
 <b id="result-status">{{ result.status }}</b> {{ result.error }} {{ result.cause }}</p>{% endif %}
</section>
<section id="monitoring"><h2>Live traffic (last {{ capture_hours|round|int }} hours)</h2>
{% if capture.predictions %}<p>{{ capture.predictions }} predictions captured, {{ capture.below_threshold }} below
 the threshold ({{ "%.1f"|format(100 * capture.share_below_threshold) }} %), {{ capture.corrupt_lines }} corrupt
 capture lines.</p><img src="{{ url_for('monitor_png') }}" width="780" alt="confidence plot">
{% else %}<p>No captured traffic yet.</p>{% endif %}</section>
<section id="runs"><h2>Pipeline executions</h2>
<table><tr><th>pipeline</th><th>execution</th><th>status</th><th>started</th><th>took</th><th>steps</th></tr>
{% for r in runs %}<tr class="run-row"><td>{{ r.pipeline }}</td>
 <td>{% if r.link %}<a href="{{ r.link }}">{{ r.execution_id }}</a>
 {% else %}{{ r.execution_id }}{% endif %}</td>
 <td class="{{ r.status }}">{{ r.status }}</td><td>{{ r.started_text }}</td><td>{{ r.took }}</td>
 <td>{{ r.summary }}</td></tr>{% else %}<tr><td colspan="6">No runs yet.</td></tr>{% endfor %}</table></section>
"""

RUN = """
<p>Pipeline <b>{{ record.pipeline_name }}</b>, execution <b>{{ record.execution_id }}</b>:
 <b class="{{ record.status }}" id="run-status">{{ record.status }}</b> {{ record.failure_reason }}</p>
{{ dag|safe }}
<table><tr><th>step</th><th>type</th><th>status</th><th>seconds</th><th>detail</th></tr>
{% for s in record.steps %}<tr class="step-row" data-step="{{ s.name }}"><td>{{ s.name }}</td><td>{{ s.type }}</td>
 <td class="{{ s.status }}">{{ s.status }}</td><td>{{ "%.1f"|format(s.seconds) if s.seconds is not none }}</td>
 <td>{{ s.cached_from and "cached from " + s.cached_from or s.summary }} {{ s.failure_reason }}</td></tr>{% endfor %}
</table>
{% for s in record.steps if s.log_tail %}<h3>Log tail of {{ s.name }}</h3><pre>{{ s.log_tail|join("\\n") }}</pre>
{% endfor %}
<h3>Parameters</h3><pre>{{ parameters }}</pre>
"""


def _endpoint_status(settings: Settings) -> dict | None:
    from scones.serving.run import DEFAULT_ENDPOINT, read_state

    state = read_state(settings, DEFAULT_ENDPOINT)
    if not state:
        return None
    try:
        with urllib.request.urlopen(f"{state['url']}/scones/status", timeout=2) as response:  # noqa: S310 - local
            return json.loads(response.read())
    except OSError:
        return None


def sagemaker_runs(pipeline_name: str, client=None, limit: int = 10) -> list[dict]:
    """Executions of a SageMaker pipeline, shaped like the local rows (steps when the API lists them)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from scones import pipeline_service

    client = client or boto3.client("sagemaker")
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


def create_app(settings: Settings | None = None, sagemaker_pipeline: str | None = None,
               sagemaker_client=None, guard: Guard | None = None, capture_hours: float = 24.0) -> Flask:
    """``sagemaker_pipeline`` (or ``SCONES_SAGEMAKER_PIPELINE``) adds that pipeline's SageMaker runs.

    Live-traffic views read the capture of the last ``capture_hours`` only (hour folders before
    that are not opened), so a page load costs the same after a year of traffic as after a day.
    ``guard`` decides which requests are served (default: loopback names only, no access
    token); every state-changing form carries its CSRF token (see :mod:`scones.ui.guard`).
    """
    import os

    sagemaker_pipeline = sagemaker_pipeline or os.environ.get("SCONES_SAGEMAKER_PIPELINE")
    settings = settings or Settings.from_env()
    guard = guard or Guard.for_binding()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 6 * 1024 * 1024

    @app.before_request
    def check_request():
        own_origin = f"{request.scheme}://{request.host}"
        refusal = guard.refusal(request.method, request.host, request.headers,
                                request.form.get(CSRF_FIELD) if request.method == "POST" else None,
                                request.args.get("token"), request.cookies.get(TOKEN_COOKIE), own_origin)
        if refusal is not None:
            body = render_template_string("<p id='refusal'>{{ text }}</p>", text=refusal.message)
            return render_template_string(LAYOUT, title="refused", body=body, message=None), refusal.status
        if guard.access_token and request.args.get("token") and request.method == "GET":
            # trade the URL token for a cookie, so it leaves the address bar and the history
            query = {k: v for k, v in request.args.items() if k != "token"}
            response = redirect(url_for(request.endpoint, **(request.view_args or {}), **query))
            response.set_cookie(TOKEN_COOKIE, guard.access_token, httponly=True, samesite="Strict")
            return response
        return None

    @app.context_processor
    def csrf_context():
        # Markup.format escapes its arguments
        return {"csrf_field": Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, guard.csrf_token)}

    def page(title: str, body: str, **context) -> str:
        inner = render_template_string(body, **context)
        return render_template_string(LAYOUT, title=title, body=inner, message=request.args.get("message"))

    def capture_scan():
        import datetime as dt

        from scones.monitor.capture_reader import read_capture
        from scones.serving.run import DEFAULT_ENDPOINT, capture_root

        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=capture_hours)
        return read_capture(capture_root(settings) / DEFAULT_ENDPOINT, since=since)

    def reference():
        registry = settings.registry()
        try:
            version = registry.latest_approved(settings.model_group)
        except SconesError:
            version = None
        evaluation = version.metrics if version else None
        classes = (evaluation or {}).get("evaluation", {}).get("classes") or ["bicycle", "motorcycle"]
        return classes, evaluation

    @app.get("/")
    def index():
        import datetime as dt

        registry = settings.registry()
        try:
            versions = registry.list_versions(settings.model_group)
        except SconesError:
            versions = []
        runs = []
        for record in list_executions(settings.workspace.runs)[:15]:
            done = sum(s.status == "Succeeded" for s in record.steps)
            failed = sum(s.status == "Failed" for s in record.steps)
            skipped = sum(s.status == "NotExecuted" for s in record.steps)
            summary = ", ".join(part for part in (f"{done} succeeded", f"{failed} failed" if failed else "",
                                                  f"{skipped} not executed" if skipped else "") if part)
            runs.append({"pipeline": record.pipeline_name, "execution_id": record.execution_id,
                         "status": record.status,
                         "started_text": dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S"),
                         "took": f"{(record.ended or record.started) - record.started:.1f} s",
                         "summary": summary,
                         "link": url_for("run", execution=record.execution_id)})
        if sagemaker_pipeline:
            runs.extend(sagemaker_runs(sagemaker_pipeline, sagemaker_client))
        from scones.monitor.report import build_report

        classes, evaluation = reference()
        capture = build_report(capture_scan(), classes, 0.93, evaluation)
        result = json.loads(request.args["result"]) if request.args.get("result") else None
        chart = svg.line_chart([(v.version, v.accuracy) for v in versions if v.accuracy is not None])
        return page("dashboard", INDEX, endpoint=_endpoint_status(settings), versions=versions, runs=runs,
                    group=settings.model_group, chart=chart, capture=capture, result=result,
                    capture_hours=capture_hours)

    @app.post("/versions/<int:version>/<status>")
    def set_status(version: int, status: str):
        if status not in ("Approved", "Rejected"):
            abort(400)
        reason = request.form.get("reason", "").strip() or f"{status.lower()} in the dashboard"
        reason = f"{reason} [by {guard.who(request.remote_addr)}, dashboard]"
        try:
            updated = settings.registry().set_status(settings.model_group, version, status, reason)
            message = f"v{updated.version} is now {updated.status}"
        except SconesError as exc:
            message = exc.message
        return redirect(url_for("index", message=message))

    @app.post("/classify")
    def classify():
        from inference_workflow.classify import classify_images

        upload = request.files.get("image")
        if upload is None or not upload.filename:
            return redirect(url_for("index", message="choose an image file first"))
        endpoint = _endpoint_status(settings)
        if not endpoint or not endpoint.get("live"):
            return redirect(url_for("index", message="no endpoint is serving a model yet"))
        try:
            threshold = float(request.form.get("threshold", "0.93"))
        except ValueError:
            return redirect(url_for("index", message="threshold must be a number"))
        report = classify_images([(Path(upload.filename).name, upload.read())], endpoint["url"], endpoint["endpoint"],
                                 endpoint["live"]["classes"], threshold,
                                 cache_dir=settings.workspace.root / "cache" / "workflows",
                                 notifier=settings.notifier())
        return redirect(url_for("index", result=json.dumps(asdict(report.results[0])), _anchor="classify"))

    @app.get("/monitor.png")
    def monitor_png():
        from scones.monitor.report import plot_report

        classes, evaluation = reference()
        with tempfile.TemporaryDirectory(prefix="scones-ui-") as scratch:
            data = plot_report(capture_scan(), classes, 0.93, evaluation, Path(scratch) / "report.png").read_bytes()
        return send_file(io.BytesIO(data), mimetype="image/png")

    @app.get("/runs/<execution>")
    def run(execution: str):
        records = [r for r in list_executions(settings.workspace.runs) if r.execution_id == execution]
        if not records:
            abort(404)
        record = records[0]
        steps = [{"name": s.name, "status": s.status, "depends_on": s.depends_on, "seconds": s.seconds}
                 for s in record.steps]
        return page(f"run {execution}", RUN, record=record, dag=svg.pipeline_dag(steps),
                    parameters=json.dumps(record.parameters, indent=2))

    return app


def serve(host: str = "127.0.0.1", port: int = 8090, allowed_hosts: tuple[str, ...] = (),
          token: str | None = None) -> int:
    """Serve the dashboard; beyond loopback it prints the URL with its access token, as Jupyter does."""
    from werkzeug.serving import make_server

    guard = Guard.for_binding(host, allowed_hosts, token)
    server = make_server(host, port, create_app(guard=guard), threaded=True)
    if host in ("0.0.0.0", "::"):  # noqa: S104 - compared: show a name other machines can use
        shown = next((h for h in sorted(guard.allowed_hosts) if not is_loopback(h)), "127.0.0.1")
    else:
        shown = host
    shown = f"[{shown}]" if ":" in shown else shown
    query = f"/?token={guard.access_token}" if guard.access_token else ""
    print(f"dashboard on http://{shown}:{server.server_port}{query} (Ctrl-C stops it)", flush=True)
    print(f"accepting Host names: {', '.join(sorted(guard.allowed_hosts))}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0

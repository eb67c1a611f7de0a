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

from common.metrics import metrics_of
from scones.engine.records import list_executions
from scones.errors import SconesError
from scones.registry import APPROVED, PENDING, REJECTED
from scones.settings import Settings
from scones.ui import svg, templates, views
from scones.ui.guard import CSRF_FIELD, TOKEN_COOKIE, Guard, is_loopback


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
    app.jinja_env.globals.update(PENDING=PENDING, APPROVED=APPROVED, REJECTED=REJECTED)  # the registry's statuses

    @app.before_request
    def check_request():
        own_origin = f"{request.scheme}://{request.host}"
        refusal = guard.refusal(request.method, request.host, request.headers,
                                request.form.get(CSRF_FIELD) if request.method == "POST" else None,
                                request.args.get("token"), request.cookies.get(TOKEN_COOKIE), own_origin)
        if refusal is not None:
            body = render_template_string("<p id='refusal'>{{ text }}</p>", text=refusal.message)
            return render_template_string(templates.LAYOUT, title="refused", body=body, message=None,
                                          refresh=None), refusal.status
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

    def page(title: str, body: str, refresh: int | None = None, **context) -> str:
        inner = render_template_string(body, **context)
        return render_template_string(templates.LAYOUT, title=title, body=inner, refresh=refresh,
                                      message=request.args.get("message"))

    def capture_scan():
        import datetime as dt

        from scones.monitor.capture_reader import read_capture
        from scones.serving.run import DEFAULT_ENDPOINT, capture_root

        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=capture_hours)
        return read_capture(capture_root(settings) / DEFAULT_ENDPOINT, since=since)

    def monitoring(scan):
        from scones.monitor.reference import reference, versions_in

        return reference(settings.registry(), settings.model_group, seen=versions_in(scan))

    def list_versions():
        try:
            return settings.registry().list_versions(settings.model_group)
        except SconesError:
            return []

    @app.get("/")
    def index():
        from scones.engine.launcher import pipeline_definition, running
        from scones.monitor.report import build_report

        versions = list_versions()
        endpoint = _endpoint_status(settings)
        state = views.deployment(versions, endpoint)
        records = list_executions(settings.workspace.runs)
        pipelines = sorted({r.pipeline_name for r in records})
        shown = request.args.get("pipeline")
        runs = []
        for record in [r for r in records if shown in (None, r.pipeline_name)][:15]:
            runs.append({**views.run_row(record), "link": url_for("run", execution=record.execution_id)})
        if sagemaker_pipeline and shown in (None, sagemaker_pipeline):
            runs.extend(sagemaker_runs(sagemaker_pipeline, sagemaker_client or settings.aws_client("sagemaker")))
        scan = capture_scan()
        ref = monitoring(scan)
        capture = build_report(scan, ref.classes, settings.threshold, ref.evaluation, ref.by_version)
        name, definition = pipeline_definition(settings)
        result = json.loads(request.args["result"]) if request.args.get("result") else None
        chart = svg.line_chart([(v.version, v.accuracy) for v in versions if v.accuracy is not None])
        return page("dashboard", templates.INDEX, refresh=2 if state.deploying else None, endpoint=endpoint,
                    deployment=state, versions=versions, runs=runs, group=settings.model_group, chart=chart,
                    capture=capture, result=result, capture_hours=capture_hours, threshold=settings.threshold,
                    pipeline_name=name, parameters=definition.get("Parameters", []),
                    running=running(settings.workspace.runs, name), pipelines=pipelines)

    @app.get("/versions/<int:number>")
    def version(number: int):
        from scones.registry.comparison import compare

        registry = settings.registry()
        try:
            chosen = registry.get_version(settings.model_group, number)
            history = registry.history(settings.model_group, number)
        except SconesError as exc:
            return page("not found", "<p id='refusal'>{{ text }}</p>", text=exc.message), 404
        versions = list_versions()
        state = views.deployment(versions, _endpoint_status(settings))
        live, live_reason = views.comparison_target(versions, state, number)
        comparison = compare(chosen, live)
        sides = [(f"v{chosen.version}", chosen.metrics or {})] + ([(f"v{live.version}", live.metrics or {})]
                                                                 if live else [])
        matrices = [(label, metrics_of(m)["confusion_matrix"]) for label, m in sides
                    if metrics_of(m).get("confusion_matrix")]
        reliability = svg.reliability_chart([(label, m.get("calibration", {}).get("reliability", []))
                                             for label, m in sides])
        histories = [(label, (m.get("training_diagnostics") or {}).get("history") or []) for label, m in sides]
        curves = "".join([svg.curves_chart(histories, "val_accuracy", "Validation accuracy", (0.0, 1.0)),
                          svg.curves_chart(histories, "train_loss", "Training loss", (0.0, 2.5)),
                          svg.curves_chart(histories, "val_loss", "Validation loss", (0.0, 2.5))])
        diagnostics = [(label, m["training_diagnostics"]) for label, m in sides if m.get("training_diagnostics")]
        data = [(label, m.get("data")) for label, m in sides]
        deploying = state.marker(number) == "deploying"
        return page(f"v{number}", templates.VERSION, refresh=2 if deploying else None, v=chosen,
                    comparison=comparison, live_reason=live_reason, deployment=state, matrices=matrices,
                    reliability=reliability, curves=curves, diagnostics=diagnostics, data=data,
                    mistakes=(chosen.metrics or {}).get("misclassified"), history=history)

    @app.post("/versions/<int:version>/<status>")
    def set_status(version: int, status: str):
        if status not in (APPROVED, REJECTED):
            abort(400)
        reason = request.form.get("reason", "").strip()
        if len(reason) < 3:
            return redirect(url_for("version", number=version,
                                    message=f"say why ({status.lower()}): the reason is kept in the history"))
        reason = f"{reason} [by {guard.who(request.remote_addr)}, dashboard]"
        try:
            updated = settings.registry().set_status(settings.model_group, version, status, reason)
        except SconesError as exc:
            return redirect(url_for("index", message=exc.message))
        state = views.deployment(list_versions(), _endpoint_status(settings))
        follow = {"deploying": "deploying now", "live": "live"}.get(state.marker(updated.version), "")
        message = f"v{updated.version} is now {updated.status}" + (f": {follow}" if follow else "")
        return redirect(url_for("version", number=updated.version, message=message))

    @app.post("/runs")
    def start_run():
        from scones.engine.launcher import launch

        prefix = "param."
        parameters = {k[len(prefix):]: v.strip() for k, v in request.form.items() if k.startswith(prefix)}
        try:
            started = launch(settings, parameters)
        except SconesError as exc:
            return redirect(url_for("index", message=exc.message, _anchor="start"))
        return redirect(url_for("run", execution=started.execution_id,
                                message=f"started {started.pipeline} execution {started.execution_id}"))

    @app.post("/classify")
    def classify():
        from scones.workflow.classify import classify_images

        upload = request.files.get("image")
        if upload is None or not upload.filename:
            return redirect(url_for("index", message="choose an image file first"))
        endpoint = _endpoint_status(settings)
        if not endpoint or not endpoint.get("live"):
            return redirect(url_for("index", message="no endpoint is serving a model yet"))
        try:
            threshold = float(request.form.get("threshold", settings.threshold))
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

        scan = capture_scan()
        ref = monitoring(scan)
        with tempfile.TemporaryDirectory(prefix="scones-ui-") as scratch:
            plot = plot_report(scan, ref.classes, settings.threshold, ref.evaluation, Path(scratch) / "report.png")
            if plot is None:
                abort(404)
            data = plot.read_bytes()
        return send_file(io.BytesIO(data), mimetype="image/png")

    def find_run(execution: str):
        records = [r for r in list_executions(settings.workspace.runs) if r.execution_id == execution]
        if not records:
            abort(404)
        return records[0]

    @app.get("/runs/<execution>")
    def run(execution: str):
        record = find_run(execution)
        store = settings.store()
        steps = [{"name": s.name, "status": s.status, "depends_on": s.depends_on, "seconds": s.seconds}
                 for s in record.steps]
        console = views.console_tail(record)
        return page(f"run {execution}", templates.RUN, refresh=2 if record.status == "Executing" else None,
                    record=record, dag=svg.pipeline_dag(steps), steps=views.ordered_steps(record),
                    artifacts={s.name: views.step_artifacts(s, store) for s in record.steps},
                    logs={s.name: views.log_tail(s) for s in record.steps}, console=console,
                    parameters=json.dumps(record.parameters, indent=2))

    @app.get("/runs/<execution>/artifacts/<step>/<int:index>")
    def artifact(execution: str, step: str, index: int):
        record = find_run(execution)
        try:
            found = views.step_artifacts(record.step(step), settings.store())[index]
        except (KeyError, IndexError):
            abort(404)
        name = found["name"]
        mimetype = {"json": "application/json", "png": "image/png"}.get(name.rsplit(".", 1)[-1],
                                                                        "application/octet-stream")
        try:
            data = views.read_artifact(settings.store(), found)
        except SconesError:
            abort(404)
        if data is None:
            abort(404)
        return send_file(io.BytesIO(data), mimetype=mimetype, download_name=name,
                         as_attachment=mimetype == "application/octet-stream")

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

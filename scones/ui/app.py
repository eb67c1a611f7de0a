"""The dashboard: model versions and approvals, the live endpoint, monitoring, pipeline runs, a test upload.

This module builds the app (the request guard, the CSRF field) and mounts one blueprint per
area: ``home`` (the front page), ``versions`` (the approver's pages), ``runs`` (start, follow,
artifacts), ``traffic`` (a test upload, the capture plot) and ``review`` (the human review queue). What they share is in
:mod:`scones.ui.context`; a new page is a new blueprint registered here.

Everything goes through the same interfaces the CLI uses -- the registry (so an
approval here emits the state-change event and redeploys the endpoint), the
endpoint's status, the monitoring report, the local run records, and the local
inference workflow for uploads. Flask renders plain HTML with server-side SVG,
so the page needs no network.
"""

from __future__ import annotations

from flask import Flask, redirect, render_template_string, request, url_for
from markupsafe import Markup

from scones.registry import APPROVED, PENDING, REJECTED
from scones.settings import Settings
from scones.ui import home, review, runs, templates, traffic, versions
from scones.ui.context import EXTENSION, Dashboard
from scones.ui.guard import CSRF_FIELD, TOKEN_COOKIE, Guard, is_loopback


def create_app(settings: Settings | None = None, sagemaker_pipeline: str | None = None,
               sagemaker_client=None, guard: Guard | None = None, capture_hours: float = 24.0) -> Flask:
    """``sagemaker_pipeline`` (or ``SCONES_SAGEMAKER_PIPELINE``) adds that pipeline's SageMaker runs.

    Live-traffic views read the capture of the last ``capture_hours`` only (hour folders before
    that are not opened), so a page load costs the same after a year of traffic as after a day.
    ``guard`` decides which requests are served (default: loopback names only, no access
    token); every state-changing form carries its CSRF token (see :mod:`scones.ui.guard`).
    """
    import os

    settings = settings or Settings.from_env()
    guard = guard or Guard.for_binding()
    app = Flask(__name__)
    app.extensions[EXTENSION] = Dashboard(settings, guard, capture_hours,
                                          sagemaker_pipeline or os.environ.get("SCONES_SAGEMAKER_PIPELINE"),
                                          sagemaker_client)
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

    for blueprint in (home.bp, versions.bp, runs.bp, traffic.bp, review.bp):  # one per area of the page
        app.register_blueprint(blueprint)
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

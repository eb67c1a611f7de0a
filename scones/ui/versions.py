"""The approver's pages: one version beside the live one, and the decision (approve or reject, with why)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for

from common.metrics import metrics_of
from scones.errors import SconesError
from scones.registry import APPROVED, REJECTED
from scones.ui import svg, templates, views
from scones.ui.context import dashboard

bp = Blueprint("versions", __name__)


@bp.get("/versions/<int:number>")
def version(number: int):
    from scones.registry.comparison import compare

    board = dashboard()
    settings = board.settings
    registry = settings.registry()
    try:
        chosen = registry.get_version(settings.model_group, number)
        history = registry.history(settings.model_group, number)
    except SconesError as exc:
        return board.not_found(exc.message)
    versions = board.list_versions()
    state = views.deployment(versions, board.endpoint_status())
    live, live_reason = views.comparison_target(versions, state, number)
    sides = [(f"v{chosen.version}", chosen.metrics or {})] + ([(f"v{live.version}", live.metrics or {})]
                                                             if live else [])
    deploying = state.marker(number) == "deploying"
    return board.page(f"v{number}", templates.VERSION, refresh=2 if deploying else None, v=chosen,
                      comparison=compare(chosen, live), live_reason=live_reason, deployment=state,
                      mistakes=(chosen.metrics or {}).get("misclassified"), history=history,
                      shadow=_shadow_view(board, number), **_side_by_side(sides))


def _shadow_view(board, number: int) -> dict:
    """The version shadowing live traffic: whether it can or does, and how its answers compare with the live ones."""
    from scones.monitor.variants import capture_images, shadow_agreement
    from scones.review.output import read_answers

    endpoint = board.endpoint_status() or {}
    live = endpoint.get("live")
    current = endpoint.get("shadow") or {}
    view = {"active": current.get("version") == number, "status": current if current.get("version") == number
            else None, "can_start": bool(live) and live["version"] != number and current.get("version") != number
            and not board.settings.deploy_mode.is_serverless, "serverless": board.settings.deploy_mode.is_serverless,
            "error": endpoint.get("layout_error", "")}
    scan, folder = board.shadow_scan(number)
    if scan is None:
        return view
    answers, _ = read_answers(board.settings.store(), board.settings.review_output)
    classes = (live or {}).get("classes") or []
    view["agreement"] = agreement = shadow_agreement(board.capture_scan(), scan, classes, answers)
    view["images"] = capture_images(folder, {d["event_id"] for d in agreement["disagreements"]})
    return view


@bp.post("/versions/<int:version>/shadow")
def shadow(version: int):
    """Start or stop ``version`` shadowing live traffic on the local endpoint (as ``scones endpoint shadow``)."""
    from scones.deploy.modes import Layout
    from scones.serving.layout import layout_file, write_request
    from scones.serving.run import DEFAULT_ENDPOINT, endpoint_folder

    board = dashboard()
    stop = request.form.get("action") == "stop"
    try:
        board.settings.registry().get_version(board.settings.model_group, version)
        if not stop:
            board.settings.deploy_mode.check(Layout.single(0, Layout.shadow_of(version)))
    except SconesError as exc:  # an unknown version; a shadow the deployment mode refuses
        return redirect(url_for(".version", number=version, message=exc.message))
    write_request(layout_file(endpoint_folder(board.settings, DEFAULT_ENDPOINT)), shadow=None if stop
                  else (version, 1.0))
    message = (f"asked the endpoint to stop shadowing v{version}" if stop else
               f"asked the endpoint to shadow v{version}: its answers to live requests appear below as traffic "
               "arrives (clients still get the live version's)")
    return redirect(url_for(".version", number=version, message=message, _anchor="shadow"))


def _side_by_side(sides: list[tuple[str, dict]]) -> dict:
    """The charts and tables that show each version's evaluation next to the other's."""
    histories = [(label, (m.get("training_diagnostics") or {}).get("history") or []) for label, m in sides]
    return {
        "matrices": [(label, metrics_of(m)["confusion_matrix"]) for label, m in sides
                     if metrics_of(m).get("confusion_matrix")],
        "reliability": svg.reliability_chart([(label, m.get("calibration", {}).get("reliability", []))
                                              for label, m in sides]),
        "curves": "".join([svg.curves_chart(histories, "val_accuracy", "Validation accuracy", (0.0, 1.0)),
                           svg.curves_chart(histories, "train_loss", "Training loss", (0.0, 2.5)),
                           svg.curves_chart(histories, "val_loss", "Validation loss", (0.0, 2.5))]),
        "diagnostics": [(label, m["training_diagnostics"]) for label, m in sides if m.get("training_diagnostics")],
        "data": [(label, m.get("data")) for label, m in sides],
    }


@bp.post("/versions/<int:version>/<status>")
def set_status(version: int, status: str):
    if status not in (APPROVED, REJECTED):
        abort(400)
    board = dashboard()
    reason = request.form.get("reason", "").strip()
    if len(reason) < 3:
        return redirect(url_for(".version", number=version,
                                message=f"say why ({status.lower()}): the reason is kept in the history"))
    reason = f"{reason} [by {board.guard.who(request.remote_addr)}, dashboard]"
    try:
        updated = board.settings.registry().set_status(board.settings.model_group, version, status, reason)
    except SconesError as exc:
        return redirect(url_for("home.index", message=exc.message))
    state = views.deployment(board.list_versions(), board.endpoint_status())
    follow = {"deploying": "deploying now", "live": "live"}.get(state.marker(updated.version), "")
    message = f"v{updated.version} is now {updated.status}" + (f": {follow}" if follow else "")
    return redirect(url_for(".version", number=updated.version, message=message))

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
                      mistakes=(chosen.metrics or {}).get("misclassified"), history=history, **_side_by_side(sides))


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

"""The Review page: the queue oldest first, the image large, the model's top guesses, one key per answer.

A reviewer clears the queue with the keyboard: ``1``-``9`` answer with that class, ``0`` "none of
these", ``?`` "can't tell", ``s`` skips to the next item. Answers are state changes: the form
carries the CSRF token like approvals, and the answer records who gave it (the dashboard's guard).

"Retrain with N reviewed images" stages the answered images (less the held-back share) where the
pipeline's ETL takes them (``scones review export``) and starts the run that registered the live
version again, on the same input and recipe, so the new version differs by what people corrected.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, redirect, request, send_file, url_for

from common.content_types import sniff
from common.defaults import APPROVED
from scones.errors import SconesError
from scones.review import CANT_TELL, NONE_OF_THESE
from scones.ui import templates
from scones.ui.context import dashboard

bp = Blueprint("review", __name__)
#: Keys beyond the classes' digits.
SPECIAL_KEYS = {NONE_OF_THESE: "0", CANT_TELL: "?"}


@bp.get("/review")
def queue():
    board = dashboard()
    review = board.settings.review_queue()
    item = review.next_pending(request.args.get("after"))  # after a skip: the next one, wrapping round
    choices = []
    if item is not None:
        choices = [(label, str(i + 1) if i < 9 else "") for i, label in enumerate(item.classes)]
        choices += [(label, key) for label, key in SPECIAL_KEYS.items()]
    image_problem = _image_problem(board, item.image) if item is not None else None
    return board.page("review", templates.REVIEW, item=item, choices=choices, counts=review.counts(),
                      recent=review.recent(10), image_problem=image_problem, trainable=_trainable(review))


def _trainable(review) -> int:
    """Answered items with a class for an answer that the export would not hold back."""
    from scones.review.export import DEFAULT_HELD_BACK, is_held_back

    return sum(not is_held_back(item_id, DEFAULT_HELD_BACK) for item_id in review.with_class_answers())


@bp.post("/review/retrain")
def retrain():
    from scones.engine.launcher import launch, retrain_parameters
    from scones.review.export import stage_answered

    board = dashboard()
    settings = board.settings
    try:
        staged = stage_answered(settings.review_queue(), settings.store(), settings.reviewed_data)
        versions = board.list_versions()  # none yet when nothing was registered: the default run
        approved = [v for v in versions if v.status == APPROVED]
        basis = (approved or versions or [None])[-1]
        started = launch(settings, retrain_parameters(settings, basis))
    except SconesError as exc:
        return redirect(url_for(".queue", message=exc.message))
    what = f"the run of v{basis.version}" if basis is not None else "the default run"
    return redirect(url_for("runs.run", execution=started.execution_id,
                            message=f"staged {staged.exported} reviewed images ({staged.held_back} held back for "
                                    f"live evaluation{_not_staged(staged.skipped)}); started {what} again as "
                                    f"{started.execution_id}"))


def _not_staged(skipped: list[str]) -> str:
    """", 1 not staged: <why>" for the images the export could not use (the first reason named)."""
    if not skipped:
        return ""
    return f"; {len(skipped)} not staged: {skipped[0].split(': ', 1)[-1]}" + (", ..." if len(skipped) > 1 else "")


@bp.get("/review/quality")
def quality():
    """Live accuracy per version over time, its confusion and calibration, from the answers and the capture."""
    from common.metrics import accuracy_of
    from scones.monitor.report import build_report
    from scones.review.quality import live_quality
    from scones.ui import svg

    board = dashboard()
    settings = board.settings
    scan = board.capture_scan()
    ref = board.monitoring(scan)
    capture = build_report(scan, ref.classes, settings.threshold, ref.evaluation, ref.by_version)
    expected = {version: accuracy_of(doc) for version, doc in ref.by_version.items()}
    shares = {version: part["share_below_threshold"] for version, part in capture.get("by_version", {}).items()}
    ids = {p.inference_id for p in scan.predictions if p.inference_id}
    quality, problems = live_quality(settings.store(), settings.review_output, ids, expected, shares,
                                     settings.threshold)
    return board.page("live accuracy", templates.QUALITY, quality=quality, problems=problems,
                      threshold=settings.threshold, hours=board.capture_hours,
                      over_time_chart=_over_time_chart(quality),
                      reliability=svg.reliability_chart([(_name(v), q["calibration"]["bins"])
                                                         for v, q in quality.items()]))


def _name(version: str) -> str:
    return f"v{version}" if version != "?" else "unknown"


def _over_time_chart(quality: dict) -> str:
    import datetime as dt

    from scones.ui import svg

    days = sorted({row["day"] for q in quality.values() for row in q["over_time"] if row["day"] != "unknown"})
    if not days:
        return ""
    first = dt.date.fromisoformat(days[0])
    series = [(_name(version), [((dt.date.fromisoformat(row["day"]) - first).days, row["accuracy"])
                                for row in q["over_time"] if row["day"] != "unknown"])
              for version, q in quality.items()]
    return svg.xy_chart(series, "Live accuracy per day", f"days since {days[0]}", (0.0, 1.0))


@bp.post("/review/<item_id>")
def answer(item_id: str):
    board = dashboard()
    label = request.form.get("label", "")
    reviewer = f"{board.guard.who(request.remote_addr)} (dashboard)"
    try:
        item = board.settings.review_queue().answer(item_id, label, reviewer, request.form.get("reason", ""))
    except SconesError as exc:
        return redirect(url_for(".queue", message=exc.message))
    said = f"ground truth {item.answer!r}" if item.answer else "reviewers disagree: no ground truth yet"
    return redirect(url_for(".queue", message=f"{item.id}: {label!r} recorded; {said}"))


@bp.get("/review/<item_id>/image")
def image(item_id: str):
    board = dashboard()
    try:
        item = board.settings.review_queue().get(item_id)
        data = board.settings.store().get_bytes(item.image)
    except SconesError:
        abort(404)
    return send_file(io.BytesIO(data), mimetype=sniff(data)[0])


def _image_problem(board, uri: str) -> str | None:
    """Why the reviewer cannot see the image, in words, or None when it shows."""
    from common.imaging import ImageError, open_image

    try:
        data = board.settings.store().get_bytes(uri)
    except SconesError as exc:
        return f"the image is gone from the store ({exc.message}); answer from the reason, or skip"
    try:
        open_image(data)
    except ImageError as exc:
        return f"the image does not decode ({exc}); this is what the workflow refused"
    return None


"""What every dashboard page shares: the configuration, the guard, and the few reads several pages make.

One :class:`Dashboard` per app, kept in ``app.extensions``; each blueprint reaches it through
:func:`dashboard`, so a page module needs no closure over ``create_app``'s locals.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template_string, request

from scones.errors import SconesError
from scones.settings import Settings
from scones.ui import templates
from scones.ui.guard import Guard

EXTENSION = "scones"


@dataclass
class Dashboard:
    settings: Settings
    guard: Guard
    capture_hours: float = 24.0
    sagemaker_pipeline: str | None = None
    sagemaker_client: Any = None

    def page(self, title: str, body: str, refresh: int | None = None, **context) -> str:
        """``body`` rendered inside the layout (title, the flash message, an optional refresh)."""
        inner = render_template_string(body, **context)
        return render_template_string(templates.LAYOUT, title=title, body=inner, refresh=refresh,
                                      message=request.args.get("message"))

    def not_found(self, text: str) -> tuple[str, int]:
        return self.page("not found", "<p id='refusal'>{{ text }}</p>", text=text), 404

    def bad_request(self, text: str) -> tuple[str, int]:
        """A 400 page saying which input was wrong: user input never costs a 500."""
        return self.page("bad request", "<p id='refusal'>{{ text }}</p>", text=text), 400

    def list_versions(self) -> list:
        try:
            return self.settings.registry().list_versions(self.settings.model_group)
        except SconesError:
            return []

    def endpoint_status(self) -> dict | None:
        """The local endpoint's own ``/scones/status``, or None when none is running."""
        from scones.serving.run import DEFAULT_ENDPOINT, read_state

        state = read_state(self.settings, DEFAULT_ENDPOINT)
        if not state:
            return None
        try:
            with urllib.request.urlopen(f"{state['url']}/scones/status", timeout=2) as response:  # noqa: S310
                return json.loads(response.read())
        except OSError:
            return None

    def capture_scan(self):
        """The last ``capture_hours`` of the endpoint's data capture (older hour folders are not opened)."""
        import datetime as dt

        from scones.monitor.capture_reader import read_capture
        from scones.serving.run import DEFAULT_ENDPOINT, capture_root

        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=self.capture_hours)
        return read_capture(capture_root(self.settings) / DEFAULT_ENDPOINT, since=since)

    def shadow_scan(self, version: int):
        """The capture of ``version`` shadowing live traffic (its own variant folder), or None if it never did."""
        import datetime as dt

        from common.defaults import SHADOW_VARIANT_PREFIX
        from scones.monitor.capture_reader import read_capture
        from scones.serving.run import DEFAULT_ENDPOINT, capture_root

        folder = capture_root(self.settings) / DEFAULT_ENDPOINT / f"{SHADOW_VARIANT_PREFIX}v{version}"
        if not folder.is_dir():
            return None, folder
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=self.capture_hours)
        return read_capture(folder, since=since), folder

    def monitoring(self, scan):
        from scones.monitor.reference import reference, served_last, versions_in

        return reference(self.settings.registry(), self.settings.model_group, seen=versions_in(scan),
                         served_last=served_last(scan))


def dashboard() -> Dashboard:
    """The running app's :class:`Dashboard`."""
    return current_app.extensions[EXTENSION]

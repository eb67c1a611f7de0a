"""A/B splits and shadows on the local endpoint: asked for in a file, applied by the running endpoint.

``scones endpoint split|shadow`` and the dashboard write the request (``layout.json`` beside the
endpoint's state: the split's weights, the shadow's version and share, a request id); the endpoint
reads it on its registry watcher's beat, loads what it needs beside the live model, checks it
against the deployment mode, and swaps the routing in one assignment -- the way UpdateEndpoint
takes a new endpoint configuration while the old one serves. The outcome (the request id applied,
or why not) is in the endpoint's status, which the command waits for.

Approving a version ends a split (the approved version takes all production traffic by the
rollout, as the AWS deployer's single-variant configuration does), and a shadowed version that
goes live stops shadowing: the file is rewritten so a restart does not bring either back.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from scones.deploy.modes import DeploymentMode, Layout
from scones.errors import InvalidInput, SconesError
from scones.registry import APPROVED, ModelRegistry
from scones.serving.routing import Deployment, Fleet, Routing


def layout_file(endpoint_folder: Path) -> Path:
    return Path(endpoint_folder) / "layout.json"


def read_request(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a layout request: {exc}") from None


def write_request(path: Path, split: dict[int, float] | None | bool = False,
                  shadow: tuple[int, float] | None | bool = False) -> str:
    """Ask for a split (weights by version; None ends it) and/or a shadow ((version, share); None ends it).

    ``False`` leaves that part as it was asked before. Returns the request's id.
    """
    request = read_request(path)
    if split is not False:
        request["split"] = {str(v): w for v, w in split.items()} if split else None
    if shadow is not False:
        request["shadow"] = {"version": shadow[0], "share": shadow[1]} if shadow else None
    request["id"] = uuid.uuid4().hex[:12]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(request, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return request["id"]


def requested_layout(request: dict, live: int) -> Layout:
    """The layout a request asks for, around the live version when it names no split."""
    shadow = request.get("shadow")
    shadow_spec = Layout.shadow_of(int(shadow["version"]), float(shadow.get("share", 1.0))) if shadow else None
    split = request.get("split")
    if split:
        return Layout.split({int(v): float(w) for v, w in split.items()}, shadow_spec)
    return Layout.single(live, shadow_spec)


class LayoutController:
    """Applies layout requests to the endpoint: loads the versions named, checks, swaps the routing."""

    def __init__(self, server, loader, registry: ModelRegistry, group: str, mode: DeploymentMode, path: Path,
                 log=print):
        self.server = server
        self.loader = loader
        self.registry = registry
        self.group = group
        self.mode = mode
        self.path = path
        self.log = log
        self._seen: float | None = None

    def poll(self) -> None:
        """Apply the request if the file changed since the last look (the registry watcher's beat)."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if stamp == self._seen or self.server.routing is None:
            return
        self._seen = stamp
        request: dict = {}
        try:
            request = read_request(self.path)
            self.apply(request)
            self.server.layout_error = ""
        except SconesError as exc:
            self.server.layout_error = exc.message
            self.log(f"endpoint {self.server.endpoint_name}: layout not applied: {exc.message}")
        self.server.layout_applied = request.get("id", "")
        self.server.write_state()

    def _deployment(self, version: int, threads: int | None = None) -> Deployment:
        for deployment in self.server.routing.deployments():
            if deployment.version.version == version and threads is None:
                return deployment  # already loaded: the same model object keeps its counters and capture
        model_version = self.registry.get_version(self.group, version)
        return Deployment(model_version, self.loader.load(model_version, threads))

    def apply(self, request: dict) -> None:
        routing = self.server.routing
        layout = requested_layout(request, routing.primary.version.version)
        self.mode.check(layout)
        shadow = None
        if layout.shadow is not None:
            current = routing.shadow
            if current is not None and current.deployment.version.version == layout.shadow.version:
                shadow = Fleet(layout.shadow.name, current.deployment, layout.shadow.weight)
            else:
                shadow = Fleet(layout.shadow.name, self._deployment(layout.shadow.version, threads=1),
                               layout.shadow.weight)
        if request.get("split"):
            for spec in layout.production:
                status = self.registry.get_version(self.group, spec.version).status
                if status != APPROVED:
                    raise InvalidInput(f"v{spec.version} is {status}: a split serves clients with it, so it must be "
                                       f"approved first (to see it on live traffic without serving it, shadow it: "
                                       f"scones endpoint shadow {spec.version})")
            fleets = tuple(Fleet(spec.name, self._deployment(spec.version), spec.weight) for spec in layout.production)
            # what the endpoint reports as live: the heaviest variant, the newest version on a tie
            primary = max(fleets, key=lambda f: (f.weight, f.deployment.version.version)).deployment
            self.server.set_routing(Routing(fleets, primary, shadow))
            self.log(f"endpoint {self.server.endpoint_name}: split "
                     + ", ".join(f"v{f.deployment.version.version} {f.weight:g}" for f in fleets))
        else:
            if len(routing.fleets) > 1 and {f.variant for f in routing.fleets} != {"AllTraffic"}:
                routing = Routing.single(routing.primary, "AllTraffic")  # the split ends: the live version serves
            self.server.set_routing(Routing(routing.fleets, routing.primary, shadow))
        if shadow is not None:
            self.log(f"endpoint {self.server.endpoint_name}: v{shadow.deployment.version.version} shadows "
                     f"{shadow.weight:.0%} of requests (answers captured as {shadow.variant}, never returned)")

    def deployed(self, version: int) -> None:
        """An approval went live: end the split, and a shadow of that version, in the request too."""
        request = read_request(self.path)
        if not request:
            return
        shadow = request.get("shadow")
        changed = {"split": None} if request.get("split") else {}
        if shadow and int(shadow["version"]) == version:
            changed["shadow"] = None
        if changed:
            write_request(self.path, changed.get("split", False), changed.get("shadow", False))
            self._seen = self.path.stat().st_mtime_ns  # already true of what serves: nothing to apply

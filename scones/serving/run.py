"""Wiring for ``scones endpoint serve``: server + deployer + registry watcher, from settings."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from common.defaults import ENDPOINT_NAME
from scones.deploy import Deployer
from scones.errors import SconesError
from scones.serving.capture import CaptureProcess
from scones.serving.server import EndpointServer, LocalEndpointBackend, ModelLoader, RegistryWatcher
from scones.settings import Settings

DEFAULT_ENDPOINT = ENDPOINT_NAME
CAPTURE_URI = "s3://scones-local/scones/datacapture"


def state_file(settings: Settings, endpoint: str) -> Path:
    return settings.workspace.root / "endpoints" / endpoint / "state.json"


def capture_root(settings: Settings) -> Path:
    """Capture lands where the local store keeps ``CAPTURE_URI``, as SageMaker writes to S3."""
    return settings.store().local_path(CAPTURE_URI) or settings.workspace.root / "datacapture"


def read_state(settings: Settings, endpoint: str = DEFAULT_ENDPOINT) -> dict | None:
    path = state_file(settings, endpoint)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def served_version(settings: Settings, endpoint: str = DEFAULT_ENDPOINT):
    """The version the local endpoint served last (its state file outlives it), or None: never one that failed."""
    state = read_state(settings, endpoint) or {}
    live = (state.get("live") or {}).get("version")
    if live is None:
        return None
    try:
        return settings.registry().get_version(settings.model_group, int(live))
    except (SconesError, ValueError):
        return None


def endpoint_folder(settings: Settings, endpoint: str) -> Path:
    return settings.workspace.root / "endpoints" / endpoint


def build_server(settings: Settings, endpoint: str = DEFAULT_ENDPOINT, host: str = "127.0.0.1", port: int = 8080,
                 threads: int | None = None, capture: bool = True, log=print,
                 alarm_period: float | None = None) -> tuple[EndpointServer, RegistryWatcher]:
    """The endpoint, its deployer and its registry watcher, by the settings' deployment mode.

    Serverless: the endpoint captures nothing (SageMaker's serverless endpoints cannot; the
    classifier writes the records) and throttles beyond MaxConcurrency. ``alarm_period``: seconds
    per alarm datapoint while a rollout bakes (the template's alarms use 60).
    """
    from scones.deploy.modes import SINGLE_VARIANT
    from scones.serving.layout import LayoutController, layout_file

    mode = settings.deploy_mode
    registry = settings.registry()
    writer = CaptureProcess(capture_root(settings), endpoint, SINGLE_VARIANT) if capture and not mode.is_serverless \
        else None
    server = EndpointServer((host, port), endpoint, writer, state_file(settings, endpoint),
                            max_concurrency=mode.serverless.max_concurrency if mode.is_serverless else None)
    server.mode = mode.describe()
    folder = endpoint_folder(settings, endpoint)
    loader = ModelLoader(settings.store(), folder / "models", threads)
    notifier = settings.notifier()
    controller = LayoutController(server, loader, registry, settings.model_group, mode, layout_file(folder), log)

    def rolled_back(driver, reason: str) -> None:
        from scones.notify import messages

        decision = {"action": "rolled_back", "version": driver.old.version.version,
                    "reason": f"v{driver.new.version.version} rolled back during its rollout: {reason}"}
        notifier.send("deployment", *messages.deployment(endpoint, decision, driver.old.version))

    backend = LocalEndpointBackend(server, loader, log, mode.rollout, alarm_period, rolled_back)
    deployer = Deployer(registry, backend, settings.model_group, notifier=notifier, endpoint_name=endpoint)
    server.failed_versions = deployer.failed  # shown by the status page and the dashboard
    registry.create_group(settings.model_group)
    decision = deployer.sync(settings.model_group)
    for skipped in decision.skipped:
        log(f"endpoint {endpoint}: skipped approved v{skipped['version']}: {skipped['reason']}")
    if decision.action == "ignored":
        log(f"endpoint {endpoint}: {decision.reason}; waiting for an approval (scones registry approve N)")
    elif decision.action == "no_deployable_version":
        log(f"endpoint {endpoint}: {decision.reason}; waiting for an approval of a version that loads")
    backend.controller = controller  # from now on an approval ends a split; the start-up sync above does not
    controller.poll()  # a split or shadow asked for before this start
    server.write_state()
    from scones.events import open_event_source

    events = open_event_source(settings.registry_uri, registry, settings.model_group)
    watcher = RegistryWatcher(events, deployer, log=log, controller=controller)
    return server, watcher


def serve(settings: Settings, endpoint: str, host: str, port: int, threads: int | None, capture: bool,
          alarm_period: float | None = None) -> int:
    def log(line: str) -> None:
        print(line, flush=True)

    server, watcher = build_server(settings, endpoint, host, port, threads, capture, log, alarm_period)
    watcher.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    capture_note = server.capture.folder if server.capture else \
        "by the classifier (serverless)" if settings.deploy_mode.is_serverless else "off"
    log(f"endpoint {endpoint} serving on {server.url} (pid {os.getpid()}): GET /ping, POST /invocations, "
        f"POST /endpoints/{endpoint}/invocations; {server.mode}; capture -> {capture_note}")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        server.server_close()
        server.close_capture()
        path = state_file(settings, endpoint)
        state = server.status() | {"status": "Stopped"}
        path.write_text(json.dumps(state, indent=1), encoding="utf-8")
        log(f"endpoint {endpoint} stopped")
    return 0


def wait_until_live(settings: Settings, endpoint: str, version: int | None = None, timeout: float = 60.0,
                    process=None) -> dict:
    """Poll the state file until the endpoint serves (``version``, if given); raises on timeout."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"endpoint process exited with code {process.returncode}")
        state = read_state(settings, endpoint)
        if state and state.get("status") == "InService":
            try:
                with urllib.request.urlopen(f"{state['url']}/scones/status", timeout=2) as response:  # noqa: S310
                    live = json.loads(response.read())
            except OSError:
                live = None
            if live and live["live"] and (version is None or live["live"]["version"] == version):
                return live
        time.sleep(0.1)
    raise TimeoutError(f"endpoint {endpoint} did not serve version {version} within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(serve(Settings.from_env(), DEFAULT_ENDPOINT, "127.0.0.1", 8080, None, True))

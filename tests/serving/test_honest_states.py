"""States that tell the truth: broken approved versions are skipped and announced, failed rollbacks too."""

from scones.notify import LocalOutbox
from scones.serving.run import build_server
from tests import support

BROKEN_URI = "s3://scones-local/models/broken/model.tar.gz"


def _register_broken(settings):
    settings.store().put_bytes(BROKEN_URI, b"not a tarball")
    return settings.registry().register(settings.model_group, BROKEN_URI, "img")


def _deployments(settings) -> list[dict]:
    return [r for r in LocalOutbox(settings.workspace.root / "outbox.jsonl").read() if r["kind"] == "deployment"]




def test_endpoint_start_serves_the_newest_version_that_loads(served):
    """v1 good and approved, v2 good and approved, v3 broken and approved: start-up serves v2, says why."""
    registry = served.registry()
    registry.approve(served.model_group, 2)
    broken = _register_broken(served)
    registry.approve(served.model_group, broken.version)
    lines = []
    server, watcher = build_server(served, "scones-endpoint", port=0, log=lines.append)
    try:
        assert server.deployment.version.version == 2
        assert any(f"skipped approved v{broken.version}" in line for line in lines)
        assert [f["version"] for f in server.status()["failed_versions"]] == [broken.version]
        note = _deployments(served)[-1]
        assert note["subject"] == "scones-endpoint: v2 deployed"
        assert note["message"]["skipped"][0]["version"] == broken.version
    finally:
        server.server_close()
        server.capture.close()


def test_endpoint_start_with_no_loadable_version_still_serves_ping(served):
    registry = served.registry()
    registry.reject(served.model_group, 1)
    broken = _register_broken(served)
    registry.approve(served.model_group, broken.version)
    lines = []
    server, watcher = build_server(served, "scones-endpoint", port=0, log=lines.append)
    try:
        assert server.deployment is None and server.status()["status"] == "Creating"
        assert any("no approved version" in line or "none of the approved versions" in line for line in lines)
        assert _deployments(served)[-1]["subject"] == "scones-endpoint: no approved version deploys"
    finally:
        server.server_close()
        server.capture.close()


def test_approving_a_broken_version_is_announced_and_the_live_one_keeps_serving(endpoint, served):
    server, watcher, _ = endpoint
    broken = _register_broken(served)
    served.registry().approve(served.model_group, broken.version)
    support.wait_for(lambda: watcher.decisions)
    assert watcher.decisions[-1]["action"] == "deploy_failed"
    assert "v1 keeps serving" in watcher.decisions[-1]["reason"]
    # the loader's own words, not an exception's repr
    assert f"version {broken.version} cannot be served" in watcher.decisions[-1]["reason"]
    assert "SconesError" not in watcher.decisions[-1]["reason"]
    assert server.deployment.version.version == 1
    assert _deployments(served)[-1]["subject"] == f"scones-endpoint: approved v{broken.version} FAILED to deploy"


def test_rejecting_the_live_version_when_every_fallback_is_broken_is_announced(endpoint, served):
    server, watcher, _ = endpoint
    registry = served.registry()
    broken = _register_broken(served)
    registry.approve(served.model_group, 2)
    support.wait_for(lambda: server.deployment.version.version == 2)
    registry.reject(served.model_group, 1)  # the good fallback goes
    registry.approve(served.model_group, broken.version)  # newest approved: deploy fails, v2 keeps serving
    support.wait_for(lambda: len(watcher.decisions) >= 3)
    registry.reject(served.model_group, 2, "regression")
    support.wait_for(lambda: watcher.decisions[-1]["action"] == "rollback_failed")
    assert server.deployment.version.version == 2, "nothing better to serve: the rejected version stays, loudly"
    assert _deployments(served)[-1]["subject"] == "scones-endpoint: rollback FAILED, rejected v2 still serving"

"""The local endpoint in each deployment mode, end to end through boto3's sagemaker-runtime client:
an A/B split with TargetVariant, a shadow off the request path, canary and linear rollouts under the rollback
alarms, and serverless throttling with the classifier capturing."""

import dataclasses
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from scones.deploy.modes import DeploymentMode
from scones.serving.client import runtime_client
from scones.serving.layout import layout_file, write_request
from scones.serving.run import build_server, capture_root, endpoint_folder
from tests import support


@pytest.fixture
def start(served):
    """Start the local endpoint with a deployment mode: start(mode, alarm_period) -> (server, watcher, client)."""
    running = []

    def starter(mode: DeploymentMode = DeploymentMode(), alarm_period: float | None = None, settings=None):
        settings = dataclasses.replace(settings or served, deploy_mode=mode)
        server, watcher = build_server(settings, "scones-endpoint", port=0, log=lambda line: None,
                                       alarm_period=alarm_period)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        watcher.poll_seconds = 0.05
        watcher.start()
        running.append((server, watcher))
        return server, watcher, runtime_client(server.url)

    yield starter
    for server, watcher in running:
        watcher.stop()
        server.shutdown()
        server.server_close()
        server.close_capture()


def _invoke(client, **extra):
    response = client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png",
                                      Body=support.random_png(seed=7), **extra)
    return response["InvokedProductionVariant"], response["CustomAttributes"]


def _layout(served):
    return layout_file(endpoint_folder(served, "scones-endpoint"))


def _records(folder):
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def test_a_split_routes_by_weight_honours_target_variant_and_captures_per_variant(start, served):
    served.registry().approve(served.model_group, 2, "candidate")
    server, _, client = start()
    assert server.deployment.version.version == 2
    write_request(_layout(served), split={1: 50, 2: 50})
    support.wait_for(lambda: len(server.status()["variants"]) == 2)
    answered = [_invoke(client) for _ in range(60)]
    assert {a for a in answered} == {("v1", "model-version=1"), ("v2", "model-version=2")}, \
        "each variant answers under its own name, with its own version"
    share = sum(a[0] == "v1" for a in answered) / len(answered)
    assert 0.2 < share < 0.8, f"50/50 weights gave {share:.0%} to v1"
    assert {_invoke(client, TargetVariant="v1") for _ in range(10)} == {("v1", "model-version=1")}
    with pytest.raises(ClientError) as caught:
        _invoke(client, TargetVariant="v9")
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError" and "Variant v9 does not exist" in error["Error"]["Message"]
    server.capture.flush()
    for writer in server._writers.values():
        writer.flush()
    folder = capture_root(served) / "scones-endpoint"
    for variant, version in (("v1", "1"), ("v2", "2")):
        records = _records(folder / variant)
        assert records and {r["eventMetadata"]["modelVersion"] for r in records} == {version}
    counts = {v["variant"]: v["invocations"] for v in server.status()["variants"]}
    assert counts["v1"] >= 10 and sum(counts.values()) == 70


def test_a_split_of_an_unapproved_version_is_refused_with_the_way_to_shadow_it(start, served):
    server, _, _ = start()
    write_request(_layout(served), split={1: 90, 2: 10})
    support.wait_for(lambda: server.layout_error)
    assert "v2 is PendingManualApproval" in server.layout_error and "scones endpoint shadow 2" in server.layout_error
    assert [v["version"] for v in server.status()["variants"]] == [1], "the live version keeps serving alone"


def test_approving_a_version_ends_the_split_in_the_request_too(start, served):
    registry = served.registry()
    registry.approve(served.model_group, 2)
    server, _, _ = start()
    write_request(_layout(served), split={1: 50, 2: 50})
    support.wait_for(lambda: len(server.status()["variants"]) == 2)
    store = served.store()
    store.put_file(support.write(served.workspace.root / "m3.tar.gz", store.get_bytes(
        "s3://scones-local/models/v2/model.tar.gz")), "s3://scones-local/models/v3/model.tar.gz")
    v3 = registry.register(served.model_group, "s3://scones-local/models/v3/model.tar.gz", "img")
    registry.approve(served.model_group, v3.version)
    support.wait_for(lambda: server.deployment.version.version == 3)
    assert {v["variant"] for v in server.status()["variants"]} == {"AllTraffic"}, "the split's variants are gone"
    # the deployer rewrites the request once the new version serves: a restart does not bring the split back
    support.wait_for(lambda: json.loads(_layout(served).read_text())["split"] is None)


def test_a_shadow_answers_off_the_request_path_and_is_captured_beside_the_live_answer(start, served):
    server, _, client = start()
    write_request(_layout(served), shadow=(2, 1.0))  # v2 is still pending: shadowing needs no approval
    support.wait_for(lambda: server.status()["shadow"] is not None)
    answers = [_invoke(client, InferenceId=f"req-{i}") for i in range(20)]
    assert set(answers) == {("AllTraffic", "model-version=1")}, "clients only ever get the live version's answer"
    server.shadow.drain()
    server.capture.flush()
    folder = capture_root(served) / "scones-endpoint"
    live = {r["eventMetadata"]["eventId"]: r for r in _records(folder / "AllTraffic")}
    shadow = _records(folder / "shadow-v2")
    assert len(shadow) == 20 and {r["eventMetadata"]["modelVersion"] for r in shadow} == {"2"}
    for record in shadow:
        twin = live[record["eventMetadata"]["eventId"]]
        assert record["eventMetadata"]["inferenceId"] == twin["eventMetadata"]["inferenceId"]
        assert record["captureData"]["endpointInput"] == twin["captureData"]["endpointInput"]
    status = server.status()["shadow"]
    assert (status["answered"], status["failed"], status["version"]) == (20, 0, 2)
    from scones.monitor.capture_reader import read_capture
    from scones.monitor.variants import shadow_agreement

    scan = read_capture(folder)
    assert {p.model_version for p in scan.predictions} == {"1"}, "monitoring never counts the shadow's answers"
    agreement = shadow_agreement(scan, read_capture(folder / "shadow-v2"), ["red", "blue"])
    assert agreement["compared"] == 20 and agreement["agreement"] is not None
    write_request(_layout(served), shadow=None)
    support.wait_for(lambda: server.status()["shadow"] is None)


def test_a_shadow_that_dies_never_reaches_the_client(start, served):
    server, _, client = start()
    write_request(_layout(served), shadow=(2, 1.0))
    support.wait_for(lambda: server.status()["shadow"] is not None)
    assert [_invoke(client)[1] for _ in range(5)] == ["model-version=1"] * 5
    server.shadow.drain()
    assert server.status()["shadow"]["answered"] == 5
    server.shadow._process.kill()  # the candidate's process crashes
    server.shadow._process.wait()
    assert [_invoke(client)[1] for _ in range(5)] == ["model-version=1"] * 5, "clients never notice"
    support.wait_for(lambda: server.status()["shadow"]["skipped"] == 5)
    assert server.status()["shadow"]["running"] is False and server.errors == 0


def _failing_from(loader, failing_version, monkeypatch):
    real = loader.load

    def load(version, threads=None):
        model = real(version, threads)
        if version.version == failing_version:
            model.predict = lambda array: (_ for _ in ()).throw(RuntimeError("regression"))
        return model

    monkeypatch.setattr(loader, "load", load)


def test_a_canary_that_raises_the_5xx_alarm_rolls_back_to_the_old_fleet(start, served, monkeypatch):
    server, watcher, client = start(DeploymentMode.parse(rollout="canary 50% 30s"), alarm_period=0.3)
    _failing_from(watcher.deployer.backend.loader, 2, monkeypatch)
    served.registry().approve(served.model_group, 2, "looks better offline")
    support.wait_for(lambda: server.status()["rollout"] is not None)
    assert server.status()["rollout"]["share"] == 0.5
    seen, deadline = [], time.monotonic() + 20
    while server.status()["rollout"]["state"] == "Baking" and time.monotonic() < deadline:
        try:
            seen.append(_invoke(client)[1])
        except ClientError as exc:
            seen.append(exc.response["OriginalStatusCode"])
        time.sleep(0.01)
    rollout = server.status()["rollout"]
    assert rollout["state"] == "RolledBack" and "invocation-5xx-errors" in rollout["reason"], rollout
    assert "model-version=1" in seen and 500 in seen, "the canary took some of the traffic, and failed on it"
    assert {_invoke(client)[1] for _ in range(10)} == {"model-version=1"}, "after the rollback v1 answers all"
    from scones.notify import LocalOutbox

    notes = [r for r in LocalOutbox(served.workspace.root / "outbox.jsonl").read() if r["kind"] == "deployment"]
    assert notes[-1]["subject"] == "scones-endpoint: rolled back to v1"


def test_a_healthy_linear_rollout_moves_traffic_step_by_step_then_completes(start, served):
    server, _, client = start(DeploymentMode.parse(rollout="linear 50% 1s"), alarm_period=0.5)
    write_request(_layout(served), shadow=(2, 1.0))
    support.wait_for(lambda: server.status()["shadow"] is not None)
    served.registry().approve(served.model_group, 2)
    support.wait_for(lambda: server.status()["rollout"] is not None)
    assert server.status()["shadow"] is None, "the shadowed version goes live: it stops shadowing"
    shares = set()
    deadline = time.monotonic() + 15
    while server.status()["rollout"]["state"] == "Baking" and time.monotonic() < deadline:
        shares.add(server.status()["rollout"]["share"])
        _invoke(client)
        time.sleep(0.02)
    assert server.status()["rollout"]["state"] == "Completed" and shares == {0.5, 1.0}
    assert server.status()["variants"] == [{**server.status()["variants"][0], "version": 2, "share": 1.0}]
    assert {_invoke(client)[1] for _ in range(5)} == {"model-version=2"}


def test_serverless_throttles_beyond_max_concurrency_as_sagemaker_does(start, served, monkeypatch):
    server, _, _ = start(DeploymentMode.parse("serverless", max_concurrency=1))
    assert server.capture is None, "a serverless endpoint has no data capture"
    from training import inference

    real = inference.LoadedModel.predict  # every image's forward pass, on either path of inference.handle
    monkeypatch.setattr(inference.LoadedModel, "predict", lambda *a: (time.sleep(0.5), real(*a))[1])
    quiet = runtime_client(server.url)  # no retries: botocore would retry a ThrottlingException
    results = []

    def call():
        try:
            results.append(_invoke(quiet)[1])
        except ClientError as exc:
            results.append(exc.response)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [r for r in results if isinstance(r, dict)]
    assert refused and len(refused) < 3, results
    assert refused[0]["Error"]["Code"] == "ThrottlingException" and "MaxConcurrency of 1" in refused[0]["Error"][
        "Message"]
    assert refused[0]["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert server.status()["refused_throttled"] >= len(refused), "botocore retried some: each is counted"


def test_serverless_refuses_a_shadow_and_the_classifier_captures_instead(start, served):
    from scones.workflow.classify import classifier_capture, classify_images

    settings = dataclasses.replace(served, deploy_mode=DeploymentMode.parse("serverless"))
    server, _, _ = start(settings.deploy_mode)
    write_request(_layout(served), shadow=(2, 1.0))
    support.wait_for(lambda: server.layout_error)
    assert "serverless endpoint does not support shadow variants" in server.layout_error
    report = classify_images([("a.png", support.random_png(seed=1)), ("b.png", support.random_png(seed=2))],
                             server.url, "scones-endpoint", ["red", "blue"], 0.0,
                             capture_uri=classifier_capture(settings))
    assert [r.status for r in report.results] == ["passed", "passed"]
    from scones.monitor.capture_reader import read_capture

    scan = read_capture(capture_root(served) / "scones-endpoint")
    assert len(scan.predictions) == 2 and {p.model_version for p in scan.predictions} == {"1"}
    assert all(p.inference_id for p in scan.predictions), "ground truth can join the classifier's records"
    assert sorted(p.confidence for p in scan.predictions) == sorted(r.confidence for r in report.results)


def test_a_shadow_yields_to_live_traffic_and_catches_up_when_the_endpoint_is_quiet(endpoint):
    from scones.serving.routing import Fleet
    from scones.serving.shadow import ShadowRunner

    server, _, _ = endpoint
    busy = [True]
    patient = ShadowRunner(Fleet("shadow-v1", server.deployment), None, idle_for=lambda: 0.0 if busy[0] else 1.0,
                           min_interval=60)
    trickle = ShadowRunner(Fleet("shadow-v1", server.deployment), None, idle_for=lambda: 0.0, min_interval=0.05)
    try:
        for runner in (patient, trickle):
            for i in range(3):
                runner.offer(support.random_png(seed=i), "image/png", "application/json", {"eventId": str(i)})
        # however busy, a copy every min_interval is answered ...
        support.wait_for(lambda: trickle.status()["answered"] == 3, timeout=30)
        time.sleep(0.5)
        # ... while the patient shadow, started at the same moment, waits for live requests to stop
        assert patient.status()["answered"] == 0
        busy[0] = False
        patient.drain()
        assert patient.status()["answered"] == 3
    finally:
        for runner in (patient, trickle):
            runner.stop()
            runner.wait()


def test_a_restart_keeps_the_split_it_was_serving(start, served):
    served.registry().approve(served.model_group, 2)
    server, watcher, _ = start()
    write_request(_layout(served), split={1: 50, 2: 50})
    support.wait_for(lambda: len(server.status()["variants"]) == 2)
    watcher.stop()
    server.shutdown()
    server.server_close()
    again, _, _ = start()
    assert [v["variant"] for v in again.status()["variants"]] == ["v1", "v2"], "the start-up sync is no approval"

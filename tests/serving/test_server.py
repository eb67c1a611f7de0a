"""The local endpoint as a real HTTP server, called through boto3's sagemaker-runtime client."""

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from scones.serving.client import runtime_client
from tests import support
from training import inference


def _invoke(client, body, content_type="image/png"):
    response = client.invoke_endpoint(EndpointName="scones-endpoint", ContentType=content_type, Body=body)
    return json.loads(response["Body"].read()), response


def test_runtime_client_gets_what_the_handler_returns(endpoint):
    server, _, client = endpoint
    image = support.random_png(seed=3)
    direct = json.loads(inference.output_fn(inference.predict_fn(
        inference.input_fn(image, "image/png"), server.deployment.model))[0])
    served, response = _invoke(client, image)
    assert served == direct
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "model-version=1"


def test_container_contract_ping_and_invocations(endpoint):
    server, _, _ = endpoint
    with urllib.request.urlopen(f"{server.url}/ping") as response:
        assert response.status == 200
    request = urllib.request.Request(f"{server.url}/invocations", data=support.random_png(), method="POST",
                                     headers={"Content-Type": "application/x-image"})
    with urllib.request.urlopen(request) as response:
        assert len(json.loads(response.read())) == 2


def test_json_batch_returns_one_list_per_image(endpoint):
    _, _, client = endpoint
    body = json.dumps({"instances": [base64.b64encode(support.random_png(seed=i)).decode() for i in range(4)]})
    result, _ = _invoke(client, body, "application/json")
    assert len(result) == 4 and all(len(row) == 2 for row in result)


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"not an image at all", "image/png", 400, "invalid_image"),
    (support.truncated_png(), "image/png", 400, "invalid_image"),
    (support.bomb_png(20000, 20000), "image/png", 400, "invalid_image"),
    (b"a,b,c", "text/csv", 415, "unsupported_content_type"),
    (b"{oops", "application/json", 400, "invalid_json"),
])
def test_bad_inputs_get_a_4xx_with_a_message_and_the_next_request_succeeds(endpoint, body, content_type, status,
                                                                          code):
    """Through the Runtime API, as SageMaker: ModelError (424) around the container's own status and JSON."""
    server, _, client = endpoint
    with pytest.raises(client.exceptions.ModelError) as caught:
        _invoke(client, body, content_type)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424 and error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == status
    assert json.loads(error["OriginalMessage"])["error"] == code
    assert error["Error"]["Message"].startswith(f"Received client error ({status}) from primary with message")
    assert error["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/scones-endpoint")
    assert len(_invoke(client, support.random_png())[0]) == 2
    assert server.errors >= 1
    import urllib.error

    request = urllib.request.Request(f"{server.url}/invocations", data=body, headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as direct:
        urllib.request.urlopen(request)
    assert direct.value.code == status and json.loads(direct.value.read())["error"] == code, \
        "the container path answers with the handler's own status"


def test_oversize_body_is_refused_without_reading_it(endpoint):
    server, _, client = endpoint
    with pytest.raises(ClientError) as caught:
        _invoke(client, b"\0" * (6 * 1024 * 1024 + 10))
    # SageMaker refuses it before any container: ValidationError, not the container's 413
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "6 MB" in caught.value.response["Error"]["Message"]
    assert len(_invoke(client, support.random_png())[0]) == 2


def test_unknown_endpoint_name_and_route(endpoint):
    server, _, client = endpoint
    with pytest.raises(ClientError, match="Endpoint other of account"):
        client.invoke_endpoint(EndpointName="other", ContentType="image/png", Body=support.random_png())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server.url}/nope")
    assert caught.value.code == 404


def test_capture_lines_parse_in_sagemakers_format(endpoint):
    server, _, client = endpoint
    image = support.random_png(seed=11)
    result, _ = _invoke(client, image)
    server.capture.flush()
    files = list(server.capture.folder.rglob("*.jsonl"))
    assert files, "capture files are written under <endpoint>/<variant>/YYYY/MM/DD/HH/"
    relative = files[0].relative_to(server.capture.folder).parts
    assert len(relative) == 5 and len(relative[0]) == 4
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    record = lines[-1]
    data = record["captureData"]
    assert data["endpointInput"]["observedContentType"] == "image/png"
    assert data["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(data["endpointInput"]["data"]) == image
    assert json.loads(data["endpointOutput"]["data"]) == result
    assert data["endpointOutput"]["encoding"] == "JSON"
    assert record["eventMetadata"]["inferenceTime"].endswith("Z") and record["eventVersion"] == "0"


def test_approval_swaps_versions_with_zero_failed_requests(endpoint, served):
    server, watcher, client = endpoint
    results, failures, stop = [], [], threading.Event()
    image = support.random_png(seed=5)

    def hammer():
        local = runtime_client(server.url)
        while not stop.is_set():
            try:
                _, response = _invoke(local, image)
                results.append(response["CustomAttributes"])
            except Exception as exc:  # any failure counts
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    support.wait_for(lambda: len(results) >= 20)
    served.registry().approve(served.model_group, 2, "better")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not results or results[-1] != "model-version=2"):
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results[0] == "model-version=1" and results[-1] == "model-version=2"
    switch = results.index("model-version=2")
    assert set(results[switch + 20:]) <= {"model-version=2"}, "once swapped, new requests use the new model"
    assert server.status()["live"]["version"] == 2
    # the swap is visible to requests before the deployer records its decision and notifies: wait for that
    support.wait_for(lambda: watcher.decisions and watcher.decisions[-1]["action"] == "deployed")
    from scones.notify import LocalOutbox

    notes = [r for r in LocalOutbox(served.workspace.root / "outbox.jsonl").read() if r["kind"] == "deployment"]
    assert notes[-1]["subject"] == "scones-endpoint: v2 deployed"


def test_rejecting_the_live_version_rolls_back(endpoint, served):
    server, watcher, client = endpoint
    registry = served.registry()
    registry.approve(served.model_group, 2)
    support.wait_for(lambda: server.deployment.version.version == 2)
    registry.reject(served.model_group, 2, "regression on mopeds")
    support.wait_for(lambda: server.deployment.version.version == 1)
    assert _invoke(client, support.random_png())[1]["CustomAttributes"] == "model-version=1"
    support.wait_for(lambda: len(watcher.decisions) == 2)
    assert [d["action"] for d in watcher.decisions] == ["deployed", "rolled_back"]
    from scones.notify import LocalOutbox

    notes = [r for r in LocalOutbox(served.workspace.root / "outbox.jsonl").read() if r["kind"] == "deployment"]
    assert [n["subject"] for n in notes[-2:]] == ["scones-endpoint: v2 deployed", "scones-endpoint: rolled back to v1"]


def test_a_version_whose_artifact_is_broken_never_goes_live(endpoint, served):
    server, watcher, client = endpoint
    store, registry = served.store(), served.registry()
    store.put_bytes("s3://scones-local/models/broken/model.tar.gz", b"not a tarball")
    broken = registry.register(served.model_group, "s3://scones-local/models/broken/model.tar.gz", "img")
    registry.approve(served.model_group, broken.version)
    registry.approve(served.model_group, 2)
    support.wait_for(lambda: server.deployment.version.version == 2)  # the watcher survived the broken one
    assert len(_invoke(client, support.random_png())[0]) == 2
    support.wait_for(lambda: len(watcher.decisions) == 2)
    assert [(d["action"], d["version"]) for d in watcher.decisions] == [("deploy_failed", broken.version),
                                                                       ("deployed", 2)]
    assert [f["version"] for f in server.status()["failed_versions"]] == [broken.version]




def test_an_unexpected_failure_costs_one_request_a_500_not_the_server(endpoint, monkeypatch):
    server, _, client = endpoint

    def broken(*args, **kwargs):
        raise RuntimeError("bug in a handler")

    monkeypatch.setattr(inference.LoadedModel, "predict", broken)  # every image's, on either path of handle
    with pytest.raises(ClientError) as caught:
        _invoke(client, support.random_png())
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424 and error["OriginalStatusCode"] == 500
    assert error["Error"]["Message"].startswith("Received server error (500) from primary")
    assert "bug in a handler" in error["OriginalMessage"] and "Traceback" not in error["OriginalMessage"]
    monkeypatch.undo()
    assert len(_invoke(client, support.random_png())[0]) == 2


def test_a_slow_model_load_during_a_swap_never_interrupts_serving(endpoint, served):
    """While v2 takes a second to load, requests keep being answered by v1; then v2 takes over."""
    server, watcher, client = endpoint
    loader = watcher.deployer.backend.loader
    real_load, loading = loader.load, threading.Event()

    def slow_load(version):
        loading.set()
        time.sleep(1.0)
        return real_load(version)

    loader.load = slow_load
    served.registry().approve(served.model_group, 2, "slow to load")
    assert loading.wait(10), "the deployer started loading v2"
    answered = [_invoke(client, support.random_png())[1]["CustomAttributes"] for _ in range(5)]
    assert answered == ["model-version=1"] * 5, "during the load the old version answers every request"
    support.wait_for(lambda: server.deployment.version.version == 2)
    assert _invoke(client, support.random_png())[1]["CustomAttributes"] == "model-version=2"


def test_counters_add_up_for_a_scripted_sequence(endpoint):
    """4 requests, 2 good and 2 bad: 4 answered, 2 with predictions, 2 with errors, in status and the CLI."""
    server, _, client = endpoint
    before = server.status()
    for body in (support.random_png(), b"not an image", support.random_png(seed=2), support.truncated_png()):
        try:
            _invoke(client, body)
        except ClientError:
            pass
    after = server.status()
    assert after["requests"] - before["requests"] == 4
    assert after["invocations"] - before["invocations"] == 2
    assert after["errors"] - before["errors"] == 2


def test_the_sdks_predictor_sees_the_exceptions_aws_would_raise(endpoint, monkeypatch):
    """SageMaker's own Predictor, pointed at the local endpoint: the same ModelError class and fields as boto3's."""
    import socket

    import boto3

    real_connect = socket.socket.connect

    def loopback_only(sock, address):  # the SDK must reach the local endpoint and nothing else
        assert str(address[0]).startswith("127.") or address[0] in ("localhost", "::1"), address
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    from pipelines.sdk import disable_sdk_telemetry

    disable_sdk_telemetry()
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import IdentitySerializer
    from sagemaker.session import Session

    server, _, client = endpoint
    boto_session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    session = Session(boto_session=boto_session, sagemaker_runtime_client=client, sagemaker_client=object())
    predictor = Predictor("scones-endpoint", sagemaker_session=session, serializer=IdentitySerializer("image/png"))
    assert len(json.loads(predictor.predict(support.random_png()))) == 2
    with pytest.raises(client.exceptions.ModelError) as caught:
        predictor.predict(support.truncated_png())
    assert caught.value.response["OriginalStatusCode"] == 400
    assert json.loads(caught.value.response["OriginalMessage"])["error"] == "invalid_image"
    other = Predictor("no-such-endpoint", sagemaker_session=session, serializer=IdentitySerializer("image/png"))
    with pytest.raises(ClientError, match="ValidationError.*Endpoint no-such-endpoint of account"):
        other.predict(support.random_png())


def test_endpoint_status_says_its_counters_start_with_the_process(endpoint, capsys):
    """Issue 29: after a kill -9 and a restart the counters start at zero, and the status says so."""
    from scones import cli

    server, _, client = endpoint
    _invoke(client, support.random_png())
    server.write_state()
    assert cli.main(["endpoint", "status"]) == 0
    out = capsys.readouterr().out
    assert f"since its process (pid {os.getpid()}) started at {server.started}" in out
    assert "counts start at zero with each start" in out


@pytest.mark.parametrize("retries", [0, 2])
def test_the_runtime_client_makes_exactly_the_attempts_asked_for(retries):
    """botocore's ``max_attempts`` counts retries: asked for none, the client once retried anyway."""
    import http.server
    import threading

    from botocore.exceptions import ClientError

    from scones.serving.client import runtime_client

    seen = []

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.path)
            body = b'{"message": "busy"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = runtime_client(f"http://127.0.0.1:{server.server_address[1]}", retries=retries)
        with pytest.raises(ClientError):
            client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png", Body=b"x")
    finally:
        server.shutdown()
    assert len(seen) == retries + 1

"""The model artifact served by TorchServe itself (Java front end and Python worker) with AWS's PyTorch
serving handler, as SageMaker's PyTorch inference image runs it, compared with the local endpoint's handler
on the same bodies: probabilities, every content type, every error status.

The configuration is the toolkit's own (``_generate_ts_config_properties``), with free loopback ports: its
start script writes /etc/sagemaker-ts.properties, which a test must not. Java comes from Debian's packages,
as the browser tests get Chromium; set SCONES_ALLOW_NO_JAVA=1 to skip where it truly cannot exist."""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests import support
from training import inference

ALLOW_NO_JAVA = "SCONES_ALLOW_NO_JAVA"


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


CASES = {
    "png": (support.random_png(seed=3), "image/png"),
    "batch": (json.dumps({"instances": [base64.b64encode(support.random_png(seed=i)).decode()
                                        for i in range(3)]}).encode(), "application/json"),
    "npy": (_npy(np.zeros((2, 32, 32, 3), np.uint8)), "application/x-npy"),
    "not_an_image": (b"not an image at all", "image/png"),
    "truncated": (support.truncated_png(), "image/png"),
    "bomb": (support.bomb_png(20000, 20000), "image/png"),
    "bad_json": (b"{oops", "application/json"),
    "csv": (b"a,b,c", "text/csv"),
    "form": (b"image=abc&x=1", "application/x-www-form-urlencoded"),
    "wrong_npy": (_npy(np.zeros((1, 8, 8, 3), np.float32)), "application/x-npy"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def torchserve(trained_model, tmp_path_factory):
    support.debian_program("java", "default-jre-headless", ALLOW_NO_JAVA)
    from sagemaker_pytorch_serving_container import torchserve as toolkit

    root = tmp_path_factory.mktemp("torchserve")
    model_dir, store = root / "model", root / "store"
    store.mkdir()
    with tarfile.open(trained_model) as tar:
        tar.extractall(model_dir, filter="data")
    ports = [_free_port() for _ in range(3)]
    properties = toolkit._generate_ts_config_properties(toolkit.DEFAULT_HANDLER_SERVICE)
    lines = [line for line in properties.replace("=true", "=true\n").splitlines()  # the bundled file's
             if line.strip() and not line.split("=")[0].endswith("_address")]  # missing newline, fixed
    lines += [f"inference_address=http://127.0.0.1:{ports[0]}", f"management_address=http://127.0.0.1:{ports[1]}",
              f"metrics_address=http://127.0.0.1:{ports[2]}"]
    (root / "config.properties").write_text("\n".join(lines) + "\n")
    bin_dir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(root),
           "PYTHONPATH": str(model_dir / "code"),  # as the toolkit sets it: the artifact's code, nothing of ours
           "SCONES_INFERENCE_BACKEND": "state_dict", "LOG_LOCATION": str(root / "logs"),
           "METRICS_LOCATION": str(root / "logs")}
    process = subprocess.Popen([os.path.join(bin_dir, "torchserve"), "--start", "--foreground", "--model-store",
                                str(store), "--ts-config", str(root / "config.properties"), "--models",
                                f"model={model_dir}", "--disable-token-auth"],
                               cwd=root, env=env, stdout=open(root / "console.log", "wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{ports[0]}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as reply:
                if json.loads(reply.read()).get("status") == "Healthy":
                    break
        except (OSError, ValueError):
            pass
        assert process.poll() is None, (root / "console.log").read_text()[-3000:]
        assert time.monotonic() < deadline, (root / "console.log").read_text()[-3000:]
        time.sleep(0.5)
    yield url, model_dir
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _post(url: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(f"{url}/invocations", data=body,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.mark.parametrize("name", list(CASES))
def test_torchserve_answers_as_the_local_handler_does(torchserve, name):
    url, model_dir = torchserve
    body, content_type = CASES[name]
    status, reply_type, reply = _post(url, body, content_type)
    assert reply_type.startswith("application/json"), (status, reply_type, reply[:200])
    assert b"Traceback" not in reply and b"/site-packages/" not in reply, reply[:300]
    model = inference.model_fn(str(model_dir))
    try:
        expected, _ = inference.output_fn(inference.predict_fn(inference.input_fn(body, content_type), model),
                                          "application/json")
    except inference.InferenceError as error:
        assert (status, json.loads(reply)["error"]) == (error.status, error.code), reply[:300]
        return
    assert status == 200
    assert np.allclose(json.loads(reply), json.loads(expected), atol=1e-5)

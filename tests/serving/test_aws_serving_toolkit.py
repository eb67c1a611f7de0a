"""The model artifact under AWS's own serving code: `sagemaker-pytorch-inference`'s HandlerService and
Transformer, called with TorchServe's own request Context, in a process whose PYTHONPATH is the artifact's
`code/` alone (as the toolkit sets it), compared with the local endpoint's handler on the same bodies.

TorchServe's Java front end only relays what the Python worker returns (status, content type, body); it is
not started here (no Java, no Docker)."""

import base64
import json
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from tests import support
from training import inference

CASES = {
    "png": (support.random_png(seed=3), "image/png"),
    "batch": (json.dumps({"instances": [base64.b64encode(support.random_png(seed=i)).decode()
                                        for i in range(3)]}).encode(), "application/json"),
    "not_an_image": (b"not an image at all", "image/png"),
    "truncated": (support.truncated_png(), "image/png"),
    "bad_json": (b"{oops", "application/json"),
    "csv": (b"a,b,c", "text/csv"),
    "form": (None, "application/x-www-form-urlencoded"),  # TorchServe parses forms: no body reaches the handler
}

WORKER = """
import base64, json, sys
from ts.context import Context, RequestProcessor
from sagemaker_pytorch_serving_container.handler_service import HandlerService

model_dir, cases = sys.argv[1], json.loads(sys.stdin.read())
context = Context("model", model_dir, {}, 1, None, "0.12.0")
service = HandlerService()
service.initialize(context)
from training.inference import LoadedModel
assert LoadedModel(model_dir).backend == "state_dict"
out = {}
for name, (body, content_type) in cases.items():
    context.request_processor = [RequestProcessor({"Content-Type": content_type, "Accept": "application/json"})]
    reply = service.handle([{"body": None if body is None else base64.b64decode(body)}], context)[0]
    reply = reply if isinstance(reply, (bytes, bytearray)) else str(reply).encode()
    out[name] = {"status": context.get_response_status(0)[0],
                 "content_type": context.get_response_content_type(0), "body": reply.decode("utf-8", "replace")}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def toolkit_replies(trained_model, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(trained_model) as tar:
        tar.extractall(model_dir, filter="data")
    import os
    import sysconfig

    cases = {name: (None if body is None else base64.b64encode(body).decode(), kind)
             for name, (body, kind) in CASES.items()}
    # AWS's PyTorch image is not known to have ONNX Runtime: serve the state dict on the network's own code
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(model_dir / "code"),
           "HOME": str(model_dir), "SCONES_INFERENCE_BACKEND": "state_dict"}
    # -S and no repository on the path: the artifact must serve from its own code/ and site-packages only
    site = sysconfig.get_paths()["purelib"]
    result = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({site!r})\n"
                             + textwrap.dedent(WORKER), str(model_dir)], input=json.dumps(cases),
                            capture_output=True, text=True, env=env, cwd=model_dir, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), model_dir


def test_good_requests_get_the_local_endpoints_probabilities(toolkit_replies):
    replies, model_dir = toolkit_replies
    model = inference.model_fn(str(model_dir))
    for name in ("png", "batch"):
        body, kind = CASES[name]
        local, _ = inference.output_fn(inference.predict_fn(inference.input_fn(body, kind), model), "application/json")
        reply = replies[name]
        assert (reply["status"], reply["content_type"]) == (200, "application/json"), name
        assert np.allclose(json.loads(reply["body"]), json.loads(local), atol=1e-5), name


@pytest.mark.parametrize("name, status, code", [
    ("not_an_image", 400, "invalid_image"), ("truncated", 400, "invalid_image"), ("bad_json", 400, "invalid_json"),
    ("csv", 415, "unsupported_content_type"), ("form", 415, "unsupported_content_type")])
def test_refused_requests_get_their_status_and_json_and_no_traceback(toolkit_replies, name, status, code):
    reply = toolkit_replies[0][name]
    assert (reply["status"], reply["content_type"]) == (status, "application/json"), reply
    document = json.loads(reply["body"])
    assert document["error"] == code and "Traceback" not in reply["body"] and "/opt/" not in reply["body"]
    body, kind = CASES[name]
    with pytest.raises(inference.InferenceError) as local:
        inference.input_fn(body, kind)
    assert local.value.status == status and local.value.code == code, "the same answer as the local endpoint"

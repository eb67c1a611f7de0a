"""training/train.py under AWS's own training code: `sagemaker-training`'s `train` with the PyTorch
container's training module (`SAGEMAKER_TRAINING_MODULE`), in a container tree built from the rendered
TrainingStep: its hyperparameters as SageMaker writes them, its channels, its submit directory fetched from
S3 (moto's server, in a thread). No Docker: the toolkit honours SAGEMAKER_BASE_DIR for /opt/ml.

One host. Two hosts need host names that resolve to separate machines (the toolkit blocks on DNS for
each); the engine's own multi-instance test covers that contract."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import boto3
import pytest

ENV_PASSED = ("PATH", "HOME", "LANG")


def _resolve(value, parameters: dict):
    """The pipeline expressions a TrainingStep's hyperparameters use: Get Parameters.X and Std:Join."""
    if isinstance(value, dict) and "Get" in value:
        return str(parameters[value["Get"].split(".", 1)[1]])
    if isinstance(value, dict) and "Std:Join" in value:
        join = value["Std:Join"]
        return join["On"].join(_resolve(v, parameters) for v in join["Values"])
    return value


@pytest.fixture(scope="module")
def job(tiny_etl, tmp_path_factory):
    from moto.server import ThreadedMotoServer

    from pipelines.step_code import build_step_code
    from scones.engine.local_run import definition_cache, render_cached
    from scones.store import open_store

    _, definition, _ = render_cached("pipelines.cifar.pipeline", {}, definition_cache())
    arguments = next(s for s in definition["Steps"] if s["Name"] == "TrainModel")["Arguments"]
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    parameters.update(Epochs=2, BatchSize=16)
    hyperparameters = {k: _resolve(v, parameters) for k, v in arguments["HyperParameters"].items()}

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server._server.server_address[:2]
    url = f"http://{host}:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_bucket(Bucket="scones-local")
    submit = json.loads(hyperparameters["sagemaker_submit_directory"])
    code = build_step_code("scones-local", "scones")
    assert code.uri("sourcedir.tar.gz") == submit, "the definition names the code the upload puts there"
    code.upload(open_store("s3://", lambda service, region=None: client))

    base = tmp_path_factory.mktemp("opt-ml")
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": "localhost", "hosts": ["localhost"], "network_interface_name": "lo"}))
    channels = [c["ChannelName"] for c in arguments["InputDataConfig"]]
    (config / "inputdataconfig.json").write_text(json.dumps(
        {name: {"TrainingInputMode": arguments["AlgorithmSpecification"]["TrainingInputMode"],
                "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"} for name in channels}))
    for name in channels:
        shutil.copytree(tiny_etl / name, base / "input" / "data" / name)
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    env.update(credentials, SAGEMAKER_BASE_DIR=str(base), SAGEMAKER_TRAINING_MODULE=
               "sagemaker_pytorch_container.training:main", PYTHONUNBUFFERED="1")
    train = shutil.which("train", path=os.path.dirname(sys.executable))
    result = subprocess.run([train], env=env, cwd=base, capture_output=True, text=True, timeout=600)
    server.stop()
    return result, base, arguments


def test_the_toolkit_runs_the_entry_point_and_it_writes_the_artifact(job):
    result, base, _ = job
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    model = base / "model"
    assert {"model.onnx", "weights.pt", "model.pt", "classes.json", "model_info.json", "code"} <= {
        p.name for p in model.iterdir()}
    info = json.loads((model / "model_info.json").read_text())
    assert info["hyperparameters"]["epochs"] == 2 and info["architecture"] == "small_cnn", \
        "the hyperparameters arrived as the definition wrote them"


def test_the_metric_definitions_read_one_point_per_epoch_from_the_toolkits_log(job):
    result, _, arguments = job
    log = (result.stdout + result.stderr).splitlines()
    for definition in arguments["AlgorithmSpecification"]["MetricDefinitions"]:
        points = [m.group(1) for line in log if (m := re.search(definition["Regex"], line))]
        assert len(points) == 2, (definition["Name"], points)


def test_the_artifact_packs_as_sagemaker_would_and_serves(job, tmp_path):
    from scones.artifacts import pack_model_dir
    from training.inference import model_fn

    _, base, _ = job
    packed = pack_model_dir(base / "model", tmp_path / "model.tar.gz")
    with tarfile.open(packed) as tar:
        tar.extractall(tmp_path / "served", filter="data")
    import numpy as np

    probabilities = model_fn(str(tmp_path / "served")).predict(np.zeros((1, 3, 32, 32), dtype=np.float32))
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5

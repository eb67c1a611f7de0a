"""training/train.py under AWS's own training code: `sagemaker-training`'s `train` with the PyTorch
container's training module (`SAGEMAKER_TRAINING_MODULE`), in a container tree built from the rendered
TrainingStep: its hyperparameters as SageMaker writes them, its channels, its submit directory fetched from
S3 (moto's server, in a thread). No Docker: the toolkit honours SAGEMAKER_BASE_DIR for /opt/ml.

One host, and two: the toolkit blocks until every host name resolves, so the two "hosts" are 127.0.0.1 and
localhost, two processes with their own /opt/ml trees; the first is the master, as SageMaker's algo-1."""

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

    channels = [c["ChannelName"] for c in arguments["InputDataConfig"]]
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    env.update(credentials, SAGEMAKER_TRAINING_MODULE="sagemaker_pytorch_container.training:main",
               PYTHONUNBUFFERED="1")
    results = {}
    for hosts in (["localhost"], ["127.0.0.1", "localhost"]):  # host names that resolve here, the first the master
        trees = [_container_tree(tmp_path_factory.mktemp("opt-ml"), host, hosts, hyperparameters, arguments,
                                 channels, tiny_etl) for host in hosts]
        processes = [subprocess.Popen([shutil.which("train", path=os.path.dirname(sys.executable))],
                                      env={**env, "SAGEMAKER_BASE_DIR": str(tree)}, cwd=tree, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for tree in trees]
        outputs = [process.communicate(timeout=600)[0] for process in processes]
        results[len(hosts)] = [(process.returncode, output, tree)
                               for process, output, tree in zip(processes, outputs, trees, strict=True)]
    server.stop()
    return results, arguments


def _container_tree(base, host: str, hosts: list[str], hyperparameters: dict, arguments: dict, channels, data):
    """One instance's /opt/ml: the config files SageMaker writes and the channels it downloads."""
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "resourceconfig.json").write_text(json.dumps(
        {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {name: {"TrainingInputMode": arguments["AlgorithmSpecification"]["TrainingInputMode"],
                "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"} for name in channels}))
    for name in channels:
        shutil.copytree(data / name, base / "input" / "data" / name)
    return base


def test_the_toolkit_runs_the_entry_point_and_it_writes_the_artifact(job):
    [(code, output, base)] = job[0][1]
    assert code == 0, output[-4000:]
    model = base / "model"
    assert {"model.onnx", "weights.pt", "model.pt", "classes.json", "model_info.json", "code"} <= {
        p.name for p in model.iterdir()}
    info = json.loads((model / "model_info.json").read_text())
    assert info["hyperparameters"]["epochs"] == 2 and info["architecture"] == "small_cnn", \
        "the hyperparameters arrived as the definition wrote them"


def test_the_metric_definitions_read_one_point_per_epoch_from_the_toolkits_log(job):
    results, arguments = job
    log = results[1][0][1].splitlines()
    for definition in arguments["AlgorithmSpecification"]["MetricDefinitions"]:
        points = [m.group(1) for line in log if (m := re.search(definition["Regex"], line))]
        assert len(points) == 2, (definition["Name"], points)


def test_two_hosts_train_one_model_through_the_toolkit(job):
    """SM_HOSTS, SM_CURRENT_HOST and MASTER_ADDR/MASTER_PORT as the PyTorch container sets them."""
    (master_code, master_log, master), (worker_code, worker_log, worker) = job[0][2]
    assert master_code == 0 and worker_code == 0, (master_log[-3000:], worker_log[-3000:])
    assert "distributed: rank 0 of 2, gloo, master 127.0.0.1:7777" in master_log, "the toolkit's MASTER_PORT"
    assert "distributed: rank 1 of 2" in worker_log
    assert "the 2 ranks hold the same weights (checksum gap 0)" in master_log
    assert (master / "model" / "model.onnx").exists()


def test_the_artifact_packs_as_sagemaker_would_and_serves(job, tmp_path):
    from scones.artifacts import pack_model_dir
    from training.inference import model_fn

    base = job[0][1][0][2]
    packed = pack_model_dir(base / "model", tmp_path / "model.tar.gz")
    with tarfile.open(packed) as tar:
        tar.extractall(tmp_path / "served", filter="data")
    import numpy as np

    probabilities = model_fn(str(tmp_path / "served")).predict(np.zeros((1, 3, 32, 32), dtype=np.float32))
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5

"""TrainingInstanceCount > 1 on this machine: N processes, SageMaker's multi-host contract, one artifact."""

import json
import tarfile

import pytest

from common import distributed
from pipelines.step_code import TRAINING_PROGRAM, TRAINING_SOURCE, build_step_code
from processing import evaluate
from scones.engine.jobs import JobFailed, run_training_job
from scones.store.local import LocalStore
from training.train import METRIC_DEFINITIONS


def _arguments(code, count: int, epochs: int = 5) -> dict:
    channels = [{"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3Uri": f"s3://bkt/data/{name}", "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated"}}}
        for name in ("train", "validation")]
    return {"AlgorithmSpecification": {"TrainingImage": "pytorch-training", "MetricDefinitions": METRIC_DEFINITIONS},
            "HyperParameters": {"sagemaker_program": json.dumps(TRAINING_PROGRAM),
                                "sagemaker_submit_directory": json.dumps(code.uri(TRAINING_SOURCE)),
                                "epochs": str(epochs), "batch-size": "16", "seed": "0"},
            "InputDataConfig": channels, "OutputDataConfig": {"S3OutputPath": "s3://bkt/models"},
            "ResourceConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}


@pytest.fixture(scope="module")
def staged(tiny_etl, tmp_path_factory):
    store = LocalStore(tmp_path_factory.mktemp("store"))
    for split in ("train", "validation"):
        store.upload(tiny_etl / split, f"s3://bkt/data/{split}")
    code = build_step_code("bkt", "scones")
    code.upload(store)
    return store, code


def _accuracy(model, tiny_etl, folder) -> float:
    report = evaluate.run_evaluation(model, tiny_etl / "test", folder)
    return report["multiclass_classification_metrics"]["accuracy"]["value"]


def test_two_instances_train_one_model_in_the_same_accuracy_band_as_one(staged, tiny_etl, trained_model, tmp_path):
    """The one-instance baseline is the suite's tiny model (same data, one process, the same script)."""
    store, code = staged
    two = run_training_job(store, "train-two", _arguments(code, 2), tmp_path / "two")
    log_1, log_2 = (tmp_path / "two" / "job.log").read_text(), (tmp_path / "two" / "job-algo-2.log").read_text()
    assert "distributed: rank 0 of 2, gloo" in log_1 and "distributed: rank 1 of 2, gloo" in log_2
    assert "data-parallel over 2 ranks" in log_1 and "the 2 ranks hold the same weights" in log_1
    assert "epoch=1 " not in log_2, "rank 1 trains but does not report"
    config = json.loads((tmp_path / "two" / "algo-2" / "container" / "opt/ml/input/config/resourceconfig.json")
                        .read_text())
    assert config["current_host"] == "algo-2" and config["hosts"] == ["algo-1", "algo-2"]
    assert not any((tmp_path / "two" / "algo-2" / "container" / "opt/ml/model").iterdir()), "only rank 0 writes"
    with tarfile.open(tmp_path / "two" / "model.tar.gz") as tar:
        info = json.loads(tar.extractfile("model_info.json").read())
    assert info["training"]["ranks"] == 2
    assert {m["MetricName"] for m in two["FinalMetricDataList"]} >= {"val_accuracy", "val_loss"}
    accuracy_one = _accuracy(trained_model, tiny_etl, tmp_path / "eval-one")
    accuracy_two = _accuracy(tmp_path / "two" / "model.tar.gz", tiny_etl, tmp_path / "eval-two")
    assert accuracy_one >= 0.85 and accuracy_two >= 0.85 and abs(accuracy_one - accuracy_two) <= 0.1


def test_a_rank_that_fails_fails_the_job_and_stops_the_other(staged, tmp_path):
    store, code = staged
    arguments = _arguments(code, 2)
    arguments["HyperParameters"]["architecture"] = "no-such-network"
    with pytest.raises(JobFailed, match="exited with code"):
        run_training_job(store, "train-broken", arguments, tmp_path / "broken")


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (0, 1)),
    ({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}, (0, 1)),
    ({"SM_HOSTS": '["algo-1", "algo-2", "algo-3"]', "SM_CURRENT_HOST": "algo-3"}, (2, 3)),
    ({"WORLD_SIZE": "4", "RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "7777"}, (1, 4)),
])
def test_the_cluster_is_read_from_sagemaker_or_torchrun_variables(env, expected):
    cluster = distributed.from_environment(env, backend="gloo")
    assert (cluster.rank, cluster.world_size) == expected
    if "MASTER_ADDR" in env:
        assert (cluster.master_addr, cluster.master_port) == ("10.0.0.1", 7777)
    elif cluster.distributed:
        assert cluster.master_addr == "algo-1", "SageMaker's first host is the master"


def test_a_host_missing_from_its_own_host_list_is_refused():
    with pytest.raises(ValueError, match="SM_CURRENT_HOST"):
        distributed.from_environment({"SM_HOSTS": '["algo-1", "algo-2"]', "SM_CURRENT_HOST": "algo-9"})


def test_the_sagemaker_definition_carries_the_distribution(monkeypatch):
    from scones.engine.local_run import render_definition

    def train_step(instance_type):
        _, definition = render_definition("pipelines.cifar.pipeline", training_instance_type=instance_type)
        return next(s for s in definition["Steps"] if s["Name"] == "TrainModel")["Arguments"]

    gpu, cpu = train_step("ml.g5.2xlarge"), train_step("ml.m5.xlarge")
    assert gpu["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert "-gpu-" in gpu["AlgorithmSpecification"]["TrainingImage"]
    assert "sagemaker_torch_distributed_enabled" not in cpu["HyperParameters"], "CPU: one process per host"
    for arguments in (gpu, cpu):
        assert arguments["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}

"""ProcessingInstanceCount > 1 on this machine: the ETL and the check shard their inputs and still
build the one-instance dataset, file for file."""

import hashlib
import json

import pytest

from common import distributed
from pipelines.step_code import build_step_code
from scones.engine.jobs import JobFailed, run_processing_job
from scones.store.local import LocalStore
from tests import support

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def staged(tmp_path_factory, tiny_archive):
    """A photo folder (three classes, four sizes, three formats, a broken file, two files whose safe
    names collide) and the CIFAR archive, in a local store beside the step code."""
    root = tmp_path_factory.mktemp("photos")
    formats = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
    for c, (name, colour) in enumerate({"cat": (200, 60, 60), "dog": (60, 200, 60),
                                        "red fox": (60, 60, 200)}.items()):
        for i in range(15):
            fmt, suffix = formats[i % 3]
            size = [(64, 48), (120, 200), (90, 70), (500, 300)][i % 4]
            support.write(root / name / f"photo {i}{suffix}", support.photo(colour, size, c * 100 + i, fmt))
    support.write(root / "dog" / "broken.jpg", b"\xff\xd8\xff this is not really a jpeg")
    support.write(root / "cat" / "a?b.png", support.photo((200, 60, 60), (40, 40), 7, "PNG"))
    support.write(root / "cat" / "a*b.png", support.photo((200, 60, 60), (40, 40), 8, "PNG"))
    store = LocalStore(tmp_path_factory.mktemp("store"))
    store.upload(root, "s3://bkt/photos")
    store.put_file(tiny_archive, "s3://bkt/cifar/cifar-100-python.tar.gz")
    code = build_step_code("bkt", "scones")
    code.upload(store)
    return store, code


def _arguments(code, app: str, inputs: dict[str, str], outputs: list[str], out: str, count: int,
               arguments: list[str]) -> dict:
    """A resolved CreateProcessingJob request, as the pipeline definition renders it."""
    def s3_input(name, uri, local, distribution):
        return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                               "S3InputMode": "File", "S3DataDistributionType": distribution}}

    return {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "pytorch-training",
                             "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{app}"],
                             "ContainerArguments": arguments},
        "ProcessingInputs": [*(s3_input(name, uri, f"/opt/ml/processing/input/{name}", "ShardedByS3Key")
                               for name, uri in inputs.items()),
                             s3_input("code", code.uri(app), "/opt/ml/processing/input/code", "FullyReplicated")],
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": name, "S3Output": {"S3Uri": f"{out}/{name}", "S3UploadMode": "EndOfJob",
                                              "LocalPath": f"/opt/ml/processing/output/{name}"}}
            for name in outputs]},
    }


def _etl(store, code, source: str, out: str, count: int, job_dir) -> dict:
    arguments = _arguments(code, "etl.pyz", {"data": source}, [*SPLITS, "meta"], out, count,
                           ["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output",
                            "--classes", "", "--image-size", "0"])
    return run_processing_job(store, f"etl-{count}", arguments, job_dir)


def _check(store, code, source: str, out: str, count: int, job_dir, max_bad: str = "0.2") -> dict:
    arguments = _arguments(code, "check.pyz", {s: f"{source}/{s}" for s in SPLITS}, [*SPLITS, "quarantine"], out,
                           count, ["--input", "/opt/ml/processing/input", "--output", "/opt/ml/processing/output",
                                   "--max-bad-fraction", max_bad])
    return run_processing_job(store, f"check-{count}", arguments, job_dir)


def _objects(store, prefix: str) -> dict[str, str]:
    """Relative key -> content digest of every object under ``prefix`` (the manifest's ``source``,
    where the job's sandbox was, left out)."""
    def content(uri):
        data = store.get_bytes(uri)
        if uri.endswith("/meta/manifest.json"):
            manifest = json.loads(data)
            assert manifest.pop("source").endswith("/opt/ml/processing/input/data")
            data = json.dumps(manifest).encode()
        return hashlib.sha256(data).hexdigest()

    return {uri[len(prefix):]: content(uri) for uri, _ in store.list(prefix)}


@pytest.fixture(scope="module")
def one_instance(staged, tmp_path_factory):
    store, code = staged
    work = tmp_path_factory.mktemp("one")
    _etl(store, code, "s3://bkt/photos", "s3://bkt/one/etl", 1, work / "etl")
    return _objects(store, "s3://bkt/one/etl")


def test_two_instances_write_the_one_instance_dataset_file_for_file(staged, one_instance, tmp_path):
    store, code = staged
    _etl(store, code, "s3://bkt/photos", "s3://bkt/two/etl", 2, tmp_path)
    assert _objects(store, "s3://bkt/two/etl") == one_instance
    manifest = json.loads(store.get_bytes("s3://bkt/two/etl/meta/manifest.json"))
    assert manifest["image_size"] == [64, 64, 3] and manifest["undecodable_passed_to_check"] == 1
    assert sum(manifest["totals"].values()) == 3 * 15 + 3
    converted = []
    for host, log in (("algo-1", "job.log"), ("algo-2", "job-algo-2.log")):
        text = (tmp_path / log).read_text()
        held = int(text.split(f"instance {host[-1]} of 2 converts the ")[1].split(" files")[0])
        pngs = [p for p in (tmp_path / host / "container/opt/ml/processing/output").rglob("*") if p.is_file()
                and p.parent.name != "meta" and p.suffix in (".png", ".jpg")]
        converted.append(len(pngs))
        assert held == len(pngs) > 0, f"{host} converts its share and only that"
    assert sum(converted) == 3 * 15 + 3
    config = json.loads((tmp_path / "algo-2/container/opt/ml/config/resourceconfig.json").read_text())
    assert config["current_host"] == "algo-2" and config["hosts"] == ["algo-1", "algo-2"]


def test_three_instances_over_an_uneven_share_agree_too(staged, one_instance, tmp_path):
    store, code = staged
    _etl(store, code, "s3://bkt/photos", "s3://bkt/three/etl", 3, tmp_path)
    assert _objects(store, "s3://bkt/three/etl") == one_instance


def test_a_cifar_archive_is_one_object_and_one_instance_converts_it(staged, tmp_path):
    store, code = staged
    _etl(store, code, "s3://bkt/cifar", "s3://bkt/c1/etl", 1, tmp_path / "one")
    _etl(store, code, "s3://bkt/cifar", "s3://bkt/c2/etl", 2, tmp_path / "two")
    assert _objects(store, "s3://bkt/c2/etl") == _objects(store, "s3://bkt/c1/etl")
    idle = (tmp_path / "two/job-algo-2.log").read_text()
    assert "instance 1 of 2 holds it; this instance has nothing to convert" in idle


def test_the_sharded_check_gives_the_one_instance_report_clean_set_and_quarantine(staged, one_instance, tmp_path):
    """Damage the ETL output the ways the check must catch: a truncated PNG, a listed file that is gone,
    an image no manifest lists (plus the ETL's undecodable file)."""
    store, code = staged
    for key in one_instance:
        store.put_bytes(f"s3://bkt/damaged{key}", store.get_bytes(f"s3://bkt/one/etl{key}"))
    listed = [key for key in one_instance if key.startswith("/train/") and key.endswith(".png")]
    store.put_bytes(f"s3://bkt/damaged{listed[0]}", store.get_bytes(f"s3://bkt/one/etl{listed[0]}")[:60])
    store.delete(f"s3://bkt/damaged{listed[1]}")
    store.put_bytes("s3://bkt/damaged/test/dog/stray.png", store.get_bytes(f"s3://bkt/one/etl{listed[2]}"))
    _check(store, code, "s3://bkt/damaged", "s3://bkt/check1", 1, tmp_path / "one")
    _check(store, code, "s3://bkt/damaged", "s3://bkt/check2", 2, tmp_path / "two")
    one, two = _objects(store, "s3://bkt/check1"), _objects(store, "s3://bkt/check2")
    assert two == one
    report = json.loads(store.get_bytes("s3://bkt/check2/quarantine/report.json"))
    assert report["reasons"] == {"missing_file": 1, "not_an_image": 1, "truncated": 1, "unlisted": 1}
    assert report["examined"] == 3 * 15 + 3 + 1
    checked = [int((tmp_path / "two" / log).read_text().split("check images: ")[-1].split("/")[0])
               for log in ("job.log", "job-algo-2.log")]
    assert min(checked) > 0 and sum(checked) == 3 * 15 + 3, "each listed file is checked once, where it is held"


def test_a_sharded_check_past_the_limit_fails_on_every_instance(staged, one_instance, tmp_path):
    store, code = staged
    with pytest.raises(JobFailed, match="exited with code 1"):
        _check(store, code, "s3://bkt/one/etl", "s3://bkt/strict", 2, tmp_path, max_bad="0.0")
    for log in ("job.log", "job-algo-2.log"):
        assert "check failed: 1 of 48 images are bad" in (tmp_path / log).read_text()


def test_the_auto_image_size_comes_from_every_instances_headers(tmp_path, monkeypatch):
    """This instance holds only small photos; the other's large ones must still count (they are most)."""
    from processing import etl, folders

    small, large = {f"cat/{i}.png": 40 for i in range(3)}, {f"cat/{i + 3}.png": 200 for i in range(5)}
    for relative, side in small.items():
        support.write(tmp_path / relative, support.photo((0, 0, 0), (side, side), 0, "PNG"))
    splits = {"train": [(relative, 0) for relative in sorted([*small, *large], key=folders.listing_key)]}
    cluster = distributed.Cluster(rank=0, world_size=2)
    monkeypatch.setattr(distributed, "union", lambda _, mine: {**mine, **large})  # the other instance's answer
    assert etl.plan_image_size(tmp_path, splits, set(small), cluster) == 128
    monkeypatch.setattr(distributed, "union", lambda _, mine: mine)
    assert etl.plan_image_size(tmp_path, splits, set(small), cluster) == 32, "without them: a different size"


def test_the_processing_cluster_is_read_from_the_resource_config(tmp_path):
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"],
                                  "network_interface_name": "eth0"}))
    cluster = distributed.for_processing_job({distributed.RESOURCE_CONFIG_VARIABLE: str(config)})
    assert (cluster.rank, cluster.world_size, cluster.master_addr, cluster.interface) == (2, 3, "algo-1", "eth0")
    config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    assert not distributed.for_processing_job({distributed.RESOURCE_CONFIG_VARIABLE: str(config)}).distributed
    assert not distributed.for_processing_job({distributed.RESOURCE_CONFIG_VARIABLE: str(tmp_path / "none")}
                                              ).distributed


def test_the_definition_shards_the_etl_and_check_inputs_and_evaluates_on_one_instance():
    from scones.engine.local_run import render_definition

    _, definition = render_definition("pipelines.cifar.pipeline")
    steps = {s["Name"]: s["Arguments"] for s in definition["Steps"] if s["Type"] == "Processing"}
    for name in ("EtlCifar", "CheckImages"):
        data = {i["S3Input"]["LocalPath"]: i["S3Input"]["S3DataDistributionType"]
                for i in steps[name]["ProcessingInputs"] if i["InputName"] != "code"}
        # reviewed images are few and every instance needs them all (the manifest writer adds them)
        replicated = {"/opt/ml/processing/input/reviewed"} if name == "EtlCifar" else set()
        assert {path for path, kind in data.items() if kind == "FullyReplicated"} == replicated, name
        assert {kind for path, kind in data.items() if path not in replicated} == {"ShardedByS3Key"}, name
        count = steps[name]["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
        assert count == {"Get": "Parameters.ProcessingInstanceCount"}, name
    assert steps["EvaluateModel"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1

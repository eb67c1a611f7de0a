"""Batch transform jobs on this machine: a resolved CreateTransformJob request, run as SageMaker runs it.

The model is what a Model step created (its ``PrimaryContainer.ModelDataUrl``); the artifact is
unpacked into a sandbox's ``/opt/ml/model`` and served by its own ``code/inference.py`` through
the batch agent (:mod:`scones.engine.transform_agent`), copied into the sandbox and run as a
plain program, so this repository's code is not on its path. ``TransformResources.InstanceCount``
N > 1 runs N agents, each on every N-th input object, as SageMaker spreads objects over instances.
Outputs land at ``S3OutputPath/<relative key>.out``.

What SageMaker offers and this engine does not run is refused by name before anything starts:
``RecordIO``/``TFRecord`` splitting, compressed input, manifest data sources.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scones.engine.jobs import JobFailed, Sandbox, first_failure, job_env, run_hosts
from scones.errors import StepFailed, Unsupported
from scones.store import ArtifactStore

AGENT = Path(__file__).with_name("transform_agent.py")


def unsupported_features(arguments: dict) -> list[str]:
    """What this transform asks for that the local engine does not run (empty: it runs)."""
    source = arguments.get("TransformInput", {})
    data = source.get("DataSource", {}).get("S3DataSource", {})
    found = []
    if data.get("S3DataType", "S3Prefix") != "S3Prefix":
        found.append(f"TransformInput.DataSource.S3DataSource.S3DataType {data['S3DataType']}")
    if source.get("SplitType", "None") not in ("None", "Line"):
        found.append(f"TransformInput.SplitType {source['SplitType']}")
    if source.get("CompressionType", "None") != "None":
        found.append(f"TransformInput.CompressionType {source['CompressionType']}")
    if arguments.get("TransformOutput", {}).get("KmsKeyId"):
        found.append("TransformOutput.KmsKeyId")
    return found


def run_transform_job(store: ArtifactStore, job_name: str, arguments: dict, model: dict, job_dir: Path,
                      echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a resolved CreateTransformJob request against ``model`` (a CreateModel request);
    returns DescribeTransformJob-shaped properties."""
    refused = unsupported_features(arguments)
    if refused:
        raise Unsupported("the local engine does not run transform jobs with " + ", ".join(refused))
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if not container.get("ModelDataUrl"):
        raise StepFailed(f"ClientError: model {arguments['ModelName']} has no ModelDataUrl to serve")
    source_uri = arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    if not store.list(source_uri):
        raise StepFailed(f"ClientError: no S3 objects found under {source_uri}")
    count = int(arguments.get("TransformResources", {}).get("InstanceCount", 1) or 1)
    hosts = [f"algo-{i + 1}" for i in range(count)]
    model_tar = job_dir / "model.tar.gz"
    job_dir.mkdir(parents=True, exist_ok=True)
    model_tar.write_bytes(store.get_bytes(container["ModelDataUrl"]))
    runs, outputs = [], []
    for index, host in enumerate(hosts):
        sandbox = Sandbox(job_dir / ("container" if count == 1 else f"{host}/container"))
        runs.append(_prepare_agent(store, arguments, container, sandbox, model_tar, (index, count)))
        outputs.append(sandbox.host_path("/opt/ml/output"))
    started = time.time()
    failed = first_failure(hosts, *run_hosts(runs, job_dir, echo))
    if failed:
        host, code, tail = failed
        reason = next((line for line in reversed(tail) if line.startswith("ClientError:")), "")
        where = f" on {host}" if count > 1 else ""
        raise JobFailed(f"{reason or f'AlgorithmError: exit code {code}'} (transform job {job_name}{where}; "
                        "see the job log)", tail)
    destination = arguments["TransformOutput"]["S3OutputPath"]
    for folder in outputs:
        store.upload(folder, destination)
    from scones.engine.request_shapes import echoed

    return {
        **echoed("DescribeTransformJob", arguments),
        "TransformJobName": job_name,
        "TransformJobArn": f"arn:aws:sagemaker:local:000000000000:transform-job/{job_name.lower()}",
        "TransformJobStatus": "Completed",
        "TransformStartTime": started,
        "TransformEndTime": time.time(),
    }


def _prepare_agent(store: ArtifactStore, arguments: dict, container: dict, sandbox: Sandbox, model_tar: Path,
                   shard: tuple[int, int]) -> tuple[list[str], dict[str, str], Path]:
    """One instance: its share of the objects (every N-th, as ``ShardedByS3Key``), the unpacked model,
    the agent and its configuration."""
    from scones.artifacts import unpack_model

    inputs, model_dir = sandbox.host_path("/opt/ml/input/data"), sandbox.host_path("/opt/ml/model")
    inputs.mkdir(parents=True, exist_ok=True)
    unpack_model(model_tar, model_dir)
    store.download(arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"], inputs, shard=shard)
    agent = sandbox.host_path("/opt/ml/agent/transform_agent.py")
    agent.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(AGENT, agent)
    source = arguments["TransformInput"]
    output = arguments.get("TransformOutput", {})
    processing = arguments.get("DataProcessing", {})
    config = {
        "model_dir": str(model_dir), "input_dir": str(inputs), "output_dir": str(sandbox.host_path("/opt/ml/output")),
        "content_type": source.get("ContentType", ""), "split_type": source.get("SplitType", "None"),
        "batch_strategy": arguments.get("BatchStrategy", "SingleRecord"),
        "max_payload_mb": arguments.get("MaxPayloadInMB", 6),
        "max_concurrent": arguments.get("MaxConcurrentTransforms", 1),
        "accept": output.get("Accept", ""), "assemble_with": output.get("AssembleWith", "None"),
        "input_filter": processing.get("InputFilter", "$"), "output_filter": processing.get("OutputFilter", "$"),
        "join_source": processing.get("JoinSource", "None"),
    }
    config_path = sandbox.host_path("/opt/ml/agent/config.json")
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    env = job_env({k: str(v) for k, v in container.get("Environment", {}).items()})
    return [sys.executable, str(agent), str(config_path)], env, sandbox.root

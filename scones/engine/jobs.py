"""Processing and training jobs as subprocesses with SageMaker's container conventions.

A :class:`Sandbox` is a folder that stands in for the container's filesystem:
``/opt/ml/...`` inside the job is ``<sandbox>/opt/ml/...`` here, and every
argument, entry point and environment value naming ``/opt/ml`` is rewritten
the same way. No root, mounts or Docker; the job runs with this machine's
Python instead of the image's (the ``ImageUri`` is recorded, not pulled).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.distributed import RESOURCE_CONFIG_VARIABLE
from scones.artifacts import pack_model_dir
from scones.errors import StepFailed, Unsupported
from scones.store import ArtifactStore

CONTAINER_ROOT = "/opt/ml"
PYTHON_NAMES = {"python", "python3", "python3.11", "python3.12"}
LOG_TAIL_LINES = 25
#: How long the other instances of a job get to end by themselves after one failed.
STOP_GRACE_SECONDS = 5.0


class JobFailed(StepFailed):
    """A job exited non-zero; carries the tail of its log, and SageMaker's exception type when a retry
    policy may match it (:mod:`scones.engine.retry`)."""

    def __init__(self, message: str, log_tail: list[str], exception_type: str | None = None):
        super().__init__(message)
        self.log_tail = log_tail
        self.exception_type = exception_type


def job_failure(kind: str, job_name: str, code: int, where: str, tail: list[str]) -> JobFailed:
    """A job's non-zero exit in SageMaker's terms: its code's error, or, killed by a signal the engine did
    not send (the out-of-memory killer, a native crash), the instance's -- which retry policies may retry."""
    import signal

    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        from scones.engine.retry import INTERNAL_ERROR

        return JobFailed(f"InternalServerError: {kind} job {job_name} was killed by {name}{where}", tail,
                         INTERNAL_ERROR)
    return JobFailed(f"AlgorithmError: {kind} job {job_name} exited with code {code}{where}", tail)


@dataclass
class Sandbox:
    root: Path

    def host_path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def rewrite(self, value: str) -> str:
        """Map ``/opt/ml/...`` (alone or after ``--flag=``) onto the sandbox."""
        if not isinstance(value, str):
            return value
        return re.sub(r"(^|=)(/opt/ml(?=/|$))", lambda m: m.group(1) + str(self.root) + m.group(2), value)


#: The exit code run_logged reports for a job stopped at its StoppingCondition (SageMaker: MaxRuntimeExceeded).
STOPPED_AT_MAX_RUNTIME = -999
#: ... and for one stopped because its execution was (``scones pipeline stop``).
STOPPED_BY_REQUEST = -998


class JobStopped(JobFailed):
    """The execution was stopped while this job ran."""


def run_logged(command: list[str], env: dict[str, str], cwd: Path, log_path: Path,
               echo: Callable[[str], None] | None = None,
               started: Callable[[subprocess.Popen], None] | None = None,
               max_seconds: float | None = None) -> tuple[int, list[str]]:
    """Run a job, teeing its merged output to ``log_path``; returns (exit code, log tail).

    ``max_seconds`` is the request's ``StoppingCondition.MaxRuntimeInSeconds``: past it the job is
    stopped (SIGTERM, then SIGKILL after a grace), as SageMaker stops it, and the code is
    :data:`STOPPED_AT_MAX_RUNTIME`.
    """
    import threading

    from scones.engine.stopping import STOP

    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stopped = threading.Event()
    if STOP.requested():
        return STOPPED_BY_REQUEST, []
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", bufsize=1)
        STOP.track(process)
        if started is not None:
            started(process)
        watchdog = None
        if max_seconds is not None:
            def stop() -> None:
                stopped.set()
                process.terminate()
                try:
                    process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()

            watchdog = threading.Timer(max_seconds, stop)
            watchdog.daemon = True
            watchdog.start()
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            tail.append(line.rstrip("\n"))
            if echo:
                echo(line.rstrip("\n"))
        code = process.wait()
        STOP.forget(process)
        if watchdog is not None:
            watchdog.cancel()
    if STOP.requested():
        return STOPPED_BY_REQUEST, list(tail)
    return (STOPPED_AT_MAX_RUNTIME if stopped.is_set() else code), list(tail)


def job_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command(entrypoint: list[str], sandbox: Sandbox) -> list[str]:
    first = entrypoint[0]
    return [sys.executable if first in PYTHON_NAMES else sandbox.rewrite(first),
            *(sandbox.rewrite(a) for a in entrypoint[1:])]


def _download(store: ArtifactStore, uri: str, folder: Path, what: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if not store.download(uri, folder):
        raise StepFailed(f"ClientError: {what}: no S3 objects found under {uri}")


#: SageMaker's description of a processing job's instances, inside the container.
PROCESSING_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"


def _prepare_processing_host(store: ArtifactStore, arguments: dict, sandbox: Sandbox, host: str,
                             hosts: list[str], master_port: int) -> tuple[list[str], dict[str, str], Path]:
    """One instance's container: its inputs (all, or its ``ShardedByS3Key`` share), config and command."""
    index = hosts.index(host)
    for item in arguments.get("ProcessingInputs", []):
        source = item.get("S3Input")
        if source is None:
            raise Unsupported(f"processing input {item.get('InputName')}: only S3Input is supported locally")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise Unsupported(f"processing input {item['InputName']}: S3DataType {source['S3DataType']}")
        distribution = source.get("S3DataDistributionType", "FullyReplicated")
        if distribution not in ("FullyReplicated", "ShardedByS3Key"):
            raise Unsupported(f"processing input {item['InputName']}: S3DataDistributionType {distribution}")
        folder = sandbox.host_path(source["LocalPath"])
        if distribution == "ShardedByS3Key" and len(hosts) > 1:
            folder.mkdir(parents=True, exist_ok=True)  # a share may be empty, as on SageMaker
            store.download(source["S3Uri"], folder, shard=(index, len(hosts)))
        else:
            _download(store, source["S3Uri"], folder, f"input {item['InputName']}")
    for item in arguments.get("ProcessingOutputConfig", {}).get("Outputs", []):
        sandbox.host_path(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    config = sandbox.host_path(PROCESSING_RESOURCE_CONFIG)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo"}))
    app = arguments["AppSpecification"]
    entrypoint = app.get("ContainerEntrypoint")
    if not entrypoint:
        raise Unsupported("processing jobs without ContainerEntrypoint (image default command) cannot run locally")
    command = _command(list(entrypoint) + list(app.get("ContainerArguments", [])), sandbox)
    env = {k: sandbox.rewrite(str(v)) for k, v in arguments.get("Environment", {}).items()}
    env[RESOURCE_CONFIG_VARIABLE] = str(config)
    if len(hosts) > 1:  # the hosts' names do not resolve here: every instance is this machine
        env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port)})
    return command, job_env(env), sandbox.root


def run_processing_job(store: ArtifactStore, job_name: str, arguments: dict, job_dir: Path,
                       echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a resolved CreateProcessingJob request; returns DescribeProcessingJob-shaped properties.

    ``ProcessingResources.ClusterConfig.InstanceCount`` N > 1 runs N processes at once, each in its
    own sandbox with ``/opt/ml/config/resourceconfig.json``; ``ShardedByS3Key`` inputs give each
    about 1/N of the objects. Every instance's outputs are uploaded to the same prefixes, as
    SageMaker does, so instances write disjoint files.
    """
    cluster = arguments.get("ProcessingResources", {}).get("ClusterConfig", {})
    count = int(cluster.get("InstanceCount", 1) or 1)
    hosts = [f"algo-{i + 1}" for i in range(count)]
    port = _free_port()
    sandboxes = [Sandbox(job_dir / "container" if count == 1 else job_dir / host / "container") for host in hosts]
    runs = [_prepare_processing_host(store, arguments, sandbox, host, hosts, port)
            for sandbox, host in zip(sandboxes, hosts, strict=True)]
    started = time.time()
    limit = max_runtime(arguments)
    failed = first_failure(hosts, *run_hosts(runs, job_dir, echo, limit))
    if failed:
        host, code, tail = failed
        where = f" on {host}" if count > 1 else ""
        _raise_if_stopped("processing", job_name, code, limit, tail)
        raise job_failure("processing", job_name, code, where, tail)
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for sandbox in sandboxes:
        for item in outputs:
            store.upload(sandbox.host_path(item["S3Output"]["LocalPath"]), item["S3Output"]["S3Uri"])
    from scones.engine.request_shapes import echoed

    return {
        **echoed("DescribeProcessingJob", arguments),
        "ProcessingJobName": job_name,
        "ProcessingJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{job_name.lower()}",
        "ProcessingJobStatus": "Completed",
        "ExitMessage": "",
        "ProcessingInputs": arguments.get("ProcessingInputs", []),
        "ProcessingOutputConfig": arguments.get("ProcessingOutputConfig", {}),
        "ProcessingResources": arguments.get("ProcessingResources", {}),
        "AppSpecification": arguments["AppSpecification"],
        "ProcessingStartTime": started,
        "ProcessingEndTime": time.time(),
    }


def max_runtime(arguments: dict) -> float | None:
    """The request's ``StoppingCondition.MaxRuntimeInSeconds``, if it sets one."""
    value = (arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    return float(value) if value else None


def _raise_if_stopped(kind: str, job_name: str, code: int, limit: float | None, tail: list[str]) -> None:
    if code == STOPPED_BY_REQUEST:
        raise JobStopped(f"{kind} job {job_name} was stopped with its execution", tail)
    if code == STOPPED_AT_MAX_RUNTIME:
        raise JobFailed(f"MaxRuntimeExceeded: {kind} job {job_name} was stopped after its "
                        f"StoppingCondition.MaxRuntimeInSeconds of {limit:g} s", tail)


def _decode_hyperparameter(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def run_hosts(runs: list[tuple[list[str], dict[str, str], Path]], job_dir: Path,
               echo: Callable[[str], None] | None,
               max_seconds: float | None = None) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """Every host's (command, environment, working folder) at once; ``job.log`` is the first
    host's, the others ``job-algo-N.log``. A host that fails stops the others (they would wait in a
    collective for it until the timeout); the results list the failures in the order they
    happened, so the first one is the cause and not a host that was stopped."""
    import threading

    if len(runs) == 1:
        command, env, cwd = runs[0]
        return [run_logged(command, env, cwd, job_dir / "job.log", echo, max_seconds=max_seconds)], [0]
    results: list = [None] * len(runs)
    processes: list[subprocess.Popen] = []
    order: list[int] = []  # hosts, as they finish
    lock = threading.Lock()

    def host(index: int) -> None:
        command, env, cwd = runs[index]
        log = job_dir / ("job.log" if index == 0 else f"job-algo-{index + 1}.log")
        prefix = f"[algo-{index + 1}] "
        result = run_logged(command, env, cwd, log, (lambda line: echo(prefix + line)) if echo else None,
                            processes.append, max_seconds)
        with lock:
            results[index] = result
            order.append(index)
        if result[0] != 0:  # the others get a moment to finish (or fail with their own message), then stop
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for process in list(processes):
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.terminate()

    threads = [threading.Thread(target=host, args=(i,), name=f"algo-{i + 1}") for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, order


def first_failure(hosts: list[str], results: list[tuple[int, list[str]]],
                   order: list[int]) -> tuple[str, int, list[str]] | None:
    """(host, exit code, log tail) of the host that failed first, or None when all succeeded."""
    for index in order:
        code, tail = results[index]
        if code != 0:
            return hosts[index], code, tail
    return None


def parse_metrics(log_path: Path, definitions: list[dict]) -> list[dict]:
    """The last value each metric-definition regex finds in the log, as SageMaker reports them."""
    latest: dict[str, float] = {}
    patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            for name, pattern in patterns:
                match = pattern.search(line)
                if match:
                    try:
                        latest[name] = float(match.group(1))
                    except (ValueError, IndexError):
                        continue
    now = time.time()
    return [{"MetricName": name, "Value": value, "Timestamp": now} for name, value in latest.items()]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare_host(store: ArtifactStore, arguments: dict, hyperparameters: dict, host_dir: Path, host: str,
                  hosts: list[str], master_port: int) -> tuple[Sandbox, dict[str, str], list[str], str]:
    """One instance's container: code, channels (each instance gets all of it: FullyReplicated), config, env."""
    sandbox = Sandbox(host_dir / "container")
    program = hyperparameters["sagemaker_program"]
    submit = hyperparameters["sagemaker_submit_directory"]
    code_dir = sandbox.host_path("/opt/ml/code")
    code_dir.mkdir(parents=True, exist_ok=True)
    archive = host_dir / "sourcedir.tar.gz"
    archive.write_bytes(store.get_bytes(submit))
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(code_dir, filter="data")
    user = {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    channels = {}
    for channel in arguments.get("InputDataConfig", []):
        name = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        if source.get("S3DataDistributionType", "FullyReplicated") != "FullyReplicated":
            raise Unsupported(f"channel {name}: only FullyReplicated training channels run locally")
        folder = sandbox.host_path(f"/opt/ml/input/data/{name}")
        _download(store, source["S3Uri"], folder, f"channel {name}")
        channels[name] = folder
    model_dir = sandbox.host_path("/opt/ml/model")
    output_data = sandbox.host_path("/opt/ml/output/data")
    config_dir = sandbox.host_path("/opt/ml/input/config")
    for folder in (model_dir, output_data, config_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(arguments.get("HyperParameters", {})))
    (config_dir / "resourceconfig.json").write_text(json.dumps(
        {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}))
    args = [item for key in sorted(user) for item in (f"--{key}", str(user[key]))]
    env = {
        "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_data),
        "SM_OUTPUT_DIR": str(sandbox.host_path("/opt/ml/output")),
        "SM_INPUT_DIR": str(sandbox.host_path("/opt/ml/input")),
        "SM_INPUT_CONFIG_DIR": str(config_dir), "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(user), "SM_USER_ARGS": json.dumps(args), "SM_MODULE_NAME": Path(program).stem,
        "SM_MODULE_DIR": submit, "SM_HOSTS": json.dumps(hosts), "SM_CURRENT_HOST": host,
        "SM_NUM_CPUS": str(max(1, (os.cpu_count() or 1) // len(hosts))), "SM_NUM_GPUS": "0", "SM_LOG_LEVEL": "20",
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
        **{f"SM_HP_{key.upper().replace('-', '_')}": str(value) for key, value in user.items()},
        **{k: sandbox.rewrite(str(v)) for k, v in arguments.get("Environment", {}).items()},
    }
    if len(hosts) > 1:  # the hosts' names do not resolve here: every instance is this machine
        env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port),
                    "OMP_NUM_THREADS": env["SM_NUM_CPUS"]})
    return sandbox, env, args, program


def run_training_job(store: ArtifactStore, job_name: str, arguments: dict, job_dir: Path,
                     echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a resolved CreateTrainingJob request the way SageMaker's training toolkit would.

    ``ResourceConfig.InstanceCount`` N > 1 runs N processes at once, each in its own sandbox with
    SageMaker's multi-host contract (``SM_HOSTS``, ``SM_CURRENT_HOST``, ``resourceconfig.json``) and
    the master address and port the ranks meet at; the first host's model directory is the
    artifact, as in SageMaker. A host that fails fails the job, and the others are stopped.
    """
    hyperparameters = {k: _decode_hyperparameter(v) for k, v in arguments.get("HyperParameters", {}).items()}
    if not hyperparameters.get("sagemaker_program") or not hyperparameters.get("sagemaker_submit_directory"):
        raise Unsupported("only script-mode training (sagemaker_program + sagemaker_submit_directory) runs locally")
    count = int(arguments.get("ResourceConfig", {}).get("InstanceCount", 1) or 1)
    hosts = [f"algo-{i + 1}" for i in range(count)]
    port = _free_port()
    prepared = [_prepare_host(store, arguments, hyperparameters, job_dir if count == 1 else job_dir / host, host,
                              hosts, port) for host in hosts]
    started = time.time()
    limit = max_runtime(arguments)
    failed = first_failure(hosts, *run_hosts(
        [([sys.executable, program, *args], job_env(env), sandbox.host_path("/opt/ml/code"))
         for sandbox, env, args, program in prepared], job_dir, echo, limit))
    if failed:
        host, code, tail = failed
        where = f" on {host}" if count > 1 else ""
        _raise_if_stopped("training", job_name, code, limit, tail)
        raise job_failure("training", job_name, code, where, tail)
    sandbox = prepared[0][0]
    model_dir, output_data = sandbox.host_path("/opt/ml/model"), sandbox.host_path("/opt/ml/output/data")
    base = arguments["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    model_uri = f"{base}/{job_name}/output/model.tar.gz"
    store.put_file(pack_model_dir(model_dir, job_dir / "model.tar.gz"), model_uri)
    if any(output_data.iterdir()):
        store.put_file(pack_model_dir(output_data, job_dir / "output.tar.gz"),
                       f"{base}/{job_name}/output/output.tar.gz")
    definitions = arguments.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    metrics = parse_metrics(job_dir / "job.log", definitions)  # the first host's log
    from scones.engine.request_shapes import echoed

    return {
        **echoed("DescribeTrainingJob", arguments),
        "TrainingJobName": job_name,
        "TrainingJobArn": f"arn:aws:sagemaker:local:000000000000:training-job/{job_name.lower()}",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "HyperParameters": arguments.get("HyperParameters", {}),
        "AlgorithmSpecification": arguments.get("AlgorithmSpecification", {}),
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "OutputDataConfig": arguments["OutputDataConfig"],
        "FinalMetricDataList": metrics,
        "TrainingStartTime": started,
        "TrainingEndTime": time.time(),
    }

"""Work spread over instances: who this process is, and how the ranks agree.

Training (data-parallel) and processing (sharded ETL and check) both end in one gloo/NCCL
process group. Training has two launch contracts:

- SageMaker's multi-host contract, one process per instance (CPU instances, and the
  local engine's N processes): ``SM_HOSTS`` lists the hosts, ``SM_CURRENT_HOST`` names
  this one, rank = its index, the master is the first host (``MASTER_ADDR``/``MASTER_PORT``
  override, as the local engine sets them to 127.0.0.1 and a free port);
- torchrun (``distribution={"torch_distributed": ...}`` on GPU instances): ``RANK``,
  ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` are set by the launcher.

gloo on CPU, NCCL on GPU. One host (or none of these variables) is the plain path: no
process group at all.

A processing job has a third: SageMaker writes ``/opt/ml/config/resourceconfig.json``
(``current_host``, ``hosts``, ``network_interface_name``) and sets no variables; the
instances reach each other by host name, the first host is the master. Processing
ranks only exchange small Python objects (file listings, per-file verdicts), over gloo.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PORT = 29500
#: Where SageMaker describes a processing job's instances.
PROCESSING_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
#: Set by the local engine only: the sandbox's stand-in for :data:`PROCESSING_RESOURCE_CONFIG`.
RESOURCE_CONFIG_VARIABLE = "SCONES_RESOURCE_CONFIG"


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    backend: str = "gloo"
    interface: str = ""  # the network interface gloo should use (SageMaker names it), "" to let gloo pick

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def usable_cores() -> int:
    """The cores this process may use (a container's share, where the OS says): an instance's work
    should use all of them before a second instance is worth paying for."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _backend(requested: str) -> str:
    if requested in ("gloo", "nccl"):
        return requested
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def from_environment(env: dict[str, str] | None = None, backend: str = "auto") -> Cluster:
    """This process's place in the job, from torchrun's or SageMaker's variables."""
    env = dict(os.environ if env is None else env)
    if int(env.get("WORLD_SIZE", "1") or 1) > 1:  # torchrun
        return Cluster(int(env["RANK"]), int(env["WORLD_SIZE"]), env.get("MASTER_ADDR", "127.0.0.1"),
                       int(env.get("MASTER_PORT", DEFAULT_PORT)), _backend(backend))
    hosts = json.loads(env.get("SM_HOSTS", "[]") or "[]")
    if len(hosts) > 1:
        current = env.get("SM_CURRENT_HOST", hosts[0])
        if current not in hosts:
            raise ValueError(f"SM_CURRENT_HOST {current!r} is not one of SM_HOSTS {hosts}")
        return Cluster(hosts.index(current), len(hosts), env.get("MASTER_ADDR", sorted(hosts)[0]),
                       int(env.get("MASTER_PORT", DEFAULT_PORT)), _backend(backend))
    return Cluster()


def for_processing_job(env: dict[str, str] | None = None) -> Cluster:
    """This instance's place in a processing job (one instance, or no resource config: the plain path)."""
    env = dict(os.environ if env is None else env)
    path = Path(env.get(RESOURCE_CONFIG_VARIABLE) or PROCESSING_RESOURCE_CONFIG)
    if not path.is_file():
        return Cluster()
    config = json.loads(path.read_text(encoding="utf-8"))
    hosts, current = list(config.get("hosts") or []), config.get("current_host")
    if len(hosts) <= 1:
        return Cluster()
    if current not in hosts:
        raise ValueError(f"current_host {current!r} is not one of the hosts {hosts} in {path}")
    return Cluster(hosts.index(current), len(hosts), env.get("MASTER_ADDR", hosts[0]),
                   int(env.get("MASTER_PORT", DEFAULT_PORT)), "gloo", str(config.get("network_interface_name", "")))


#: How long a rank waits in one collective. Long on purpose: ranks wait while rank 0 validates a
#: large set or writes the artifact, and while a slower instance finishes converting its share;
#: a rank that dies does not leave the others waiting this long -- SageMaker stops every instance
#: of a job when one fails, and the local engine stops them a few seconds after.
COLLECTIVE_TIMEOUT_SECONDS = 2 * 3600


@contextlib.contextmanager
def joined(cluster: Cluster, timeout_seconds: int = COLLECTIVE_TIMEOUT_SECONDS) -> Iterator[Cluster]:
    """The job's process group for the block, left on the way out however the block ends; one host: nothing.

    On success every rank waits for the others before leaving (rank 0 may still be writing the
    manifests or the artifact). On an error a rank leaves at once: waiting in a barrier for
    ranks that may never arrive would hold the failed job for the collective timeout.
    """
    _start(cluster, timeout_seconds)
    try:
        yield cluster
    except BaseException:
        _stop(cluster, wait_for_others=False)
        raise
    _stop(cluster, wait_for_others=True)


def _start(cluster: Cluster, timeout_seconds: int) -> None:
    """Join the process group (rank 0 listens, the others connect); a no-op on one host."""
    if not cluster.distributed:
        return
    import datetime as dt

    import torch.distributed as dist

    if cluster.interface:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", cluster.interface)
    dist.init_process_group(cluster.backend, init_method=f"tcp://{cluster.master_addr}:{cluster.master_port}",
                            rank=cluster.rank, world_size=cluster.world_size,
                            timeout=dt.timedelta(seconds=timeout_seconds))


def _stop(cluster: Cluster, wait_for_others: bool) -> None:
    if cluster.distributed:
        import torch.distributed as dist

        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def share(cluster: Cluster, value: Any) -> Any:
    """Rank 0's ``value`` on every rank: decisions (early stopping, the best epoch) are made once."""
    if not cluster.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(cluster: Cluster, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (one element on one host)."""
    if not cluster.distributed:
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * cluster.world_size
    dist.all_gather_object(values, value)
    return values


def union(cluster: Cluster, items: dict) -> dict:
    """Every rank's entries in one dict (ranks hold disjoint keys: each its own files)."""
    merged: dict = {}
    for part in gather(cluster, items):
        merged.update(part)
    return merged


def total(cluster: Cluster, *values: float) -> list[float]:
    """Sums over all ranks (examples seen, loss sums, correct counts)."""
    if not cluster.distributed:
        return list(values)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def my_rows(rows, cluster: Cluster):
    """This rank's share of one global batch: every world_size-th row (a DistributedSampler's split)."""
    return rows[cluster.rank::cluster.world_size] if cluster.distributed else rows

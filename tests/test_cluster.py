"""The one cluster helper: a step joins the process group for its work and always leaves it."""

import pytest

from common import distributed
from common.distributed import Cluster


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(distributed, "_start", lambda cluster, timeout: seen.append(("start", cluster.rank)))
    monkeypatch.setattr(distributed, "_stop", lambda cluster, wait_for_others: seen.append(("stop", wait_for_others)))
    return seen


def test_a_finished_step_waits_for_the_others_then_leaves(calls):
    with distributed.joined(Cluster(rank=1, world_size=2)) as cluster:
        assert cluster.rank == 1 and calls == [("start", 1)]
    assert calls == [("start", 1), ("stop", True)]


def test_a_failed_step_leaves_at_once_without_waiting_for_ranks_that_may_never_come(calls):
    with pytest.raises(ValueError, match="bad data"), distributed.joined(Cluster(rank=0, world_size=2)):
        raise ValueError("bad data")
    assert calls == [("start", 0), ("stop", False)]


def test_one_host_joins_nothing():
    import sys

    with distributed.joined(Cluster()):
        pass
    assert "torch.distributed" not in sys.modules or not __import__("torch").distributed.is_initialized()

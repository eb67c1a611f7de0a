"""The one scheme table: every row loads a class of its port, built by the port's own ``from_uri``."""

import inspect

import pytest

from scones.backends import BACKENDS, backend_for, open_backend
from scones.errors import InvalidInput

PORTS = {"registry": "scones.registry:ModelRegistry", "store": "scones.store:ArtifactStore",
         "notify": "scones.notify:Notifier", "review": "scones.review:ReviewQueue",
         "events": "scones.events:EventSource"}


def _port(port):
    import importlib

    module, name = PORTS[port].split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("port", "scheme"), [(p, s) for p, table in BACKENDS.items() for s in table])
def test_each_row_is_a_concrete_backend_of_its_port(port, scheme):
    cls = BACKENDS[port][scheme].load()
    assert issubclass(cls, _port(port)) and not inspect.isabstract(cls), cls
    assert "from_uri" in vars(cls), f"{cls.__name__} must build itself from a URI"


def test_an_unknown_scheme_names_every_valid_uri():
    for port in ("registry", "store", "notify", "review"):
        with pytest.raises(InvalidInput, match=", ".join(b.example for b in BACKENDS[port].values())):
            open_backend(port, "mlflow://somewhere")


def test_aws_backends_take_their_clients_from_the_factory_in_the_region_the_uri_names():
    asked = []

    def clients(service, region=None):
        asked.append((service, region))
        return object()

    registry = open_backend("registry", "sagemaker://eu-west-1", clients)
    assert asked == [("sagemaker", "eu-west-1"), ("s3", "eu-west-1")] and registry.client is not None
    asked.clear()
    open_backend("notify", "sns://arn:aws:sns:ap-south-1:123456789012:t", clients)
    assert asked == [("sns", "ap-south-1")]
    with pytest.raises(InvalidInput, match="expected sns://arn:aws:sns"):
        open_backend("notify", "sns://not-an-arn", clients)


def test_events_follow_sqlite_by_its_table_and_anything_else_by_polling():
    assert backend_for("events", "sqlite:///x.db").target.endswith("SqliteEventSource")
    assert backend_for("events", "sagemaker://").target.endswith("PollingEventSource")

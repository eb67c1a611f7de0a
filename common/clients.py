"""boto3 clients by service name: what a Lambda's ``make_handler(env, clients)`` is handed.

Below both the functions (``lambdas/``) and the platform that runs them locally
(``scones.workflow.runtime``), so each can make or hand over clients the same way.
boto3 is imported on first use only: importing this costs nothing at a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Timeouts and retries of every client a function makes: a stuck call must not hold a Lambda for minutes.
CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 2, "mode": "standard"}}


class Clients:
    """boto3 clients by service name, each made on first use and kept.

    Args:
        given: clients to hand out as they are (a test's moto or Stubber clients, a real bucket's client).
        region: the region for clients made here (default: boto3's own resolution, as in Lambda).
        endpoint_urls: service -> endpoint URL (the local endpoint for ``sagemaker-runtime``).
    """

    def __init__(self, given: Mapping[str, Any] | None = None, region: str | None = None,
                 endpoint_urls: Mapping[str, str] | None = None):
        self.made: dict[str, Any] = dict(given or {})
        self.region = region
        self.endpoint_urls = dict(endpoint_urls or {})

    def __call__(self, service: str, region: str | None = None) -> Any:
        """The client for ``service`` (in ``region`` when one is named and differs from this factory's)."""
        key = service if region in (None, self.region) else f"{service}@{region}"
        if key not in self.made:
            import boto3
            from botocore.config import Config

            self.made[key] = boto3.client(service, region_name=region or self.region, config=Config(**CLIENT_CONFIG),
                                          endpoint_url=self.endpoint_urls.get(service))
        return self.made[key]

"""A boto3 ``sagemaker-runtime`` client pointed at the local endpoint."""

from __future__ import annotations


def runtime_client(endpoint_url: str, region: str = "us-east-1", timeout: float = 10.0, retries: int = 0):
    """Unsigned-credential-safe client: placeholder credentials when none are configured.

    ``retries``: attempts after the first (botocore's ``max_attempts`` counts retries, so the first
    version of this said 0 and retried once).
    """
    import boto3
    from botocore.config import Config

    session = boto3.Session(region_name=region)
    credentials = session.get_credentials()
    kwargs = {}
    if credentials is None:  # the local endpoint ignores signatures; botocore still wants to sign
        kwargs = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}  # noqa: S106
    return session.client("sagemaker-runtime", endpoint_url=endpoint_url, **kwargs,
                          config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                                        read_timeout=timeout, connect_timeout=timeout,
                                        max_pool_connections=32))

"""AWS's own API models, loaded once per process: botocore parses a service's JSON model anew per session.

The SageMaker model is a few MB of JSON; a fresh ``botocore.session.get_session()`` per lookup
costs ~60 ms each time. Every caller that checks a request or reads an enumeration (instance
types, approval statuses) goes through here.
"""

from __future__ import annotations

from functools import cache


@cache
def service_model(service: str):
    """botocore's ``ServiceModel`` for ``service`` (``"sagemaker"``), parsed on first use."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)

"""``scones ui``: a local dashboard (Flask) over the registry, the endpoint, monitoring and pipeline runs."""

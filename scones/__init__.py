"""scones-mlops: the platform side (CLI, local pipeline engine, registry, endpoint, deployer)."""

__version__ = "0.1.0"

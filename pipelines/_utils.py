"""Helpers shared by the seed-code style drivers (``run-pipeline``, ``get-pipeline-definition``)."""

from __future__ import annotations

import argparse
import ast
import importlib
import json

from common import defaults

DEFAULT_MODULE = "pipelines.cifar.pipeline"


def add_driver_arguments(parser: argparse.ArgumentParser) -> None:
    """``--module-name`` and ``--kwargs``, spelled as AWS's seed-code drivers spell them."""
    parser.add_argument("-n", "--module-name", dest="module_name", default=DEFAULT_MODULE,
                        help="the module name of the pipeline to import")
    parser.add_argument("-kwargs", "--kwargs", dest="kwargs", default=None,
                        help="dict string of keyword arguments for the pipeline generation (if supported)")


def convert_struct(text: str | None):
    """Parse ``--kwargs``/``--tags`` as JSON, or as a Python literal as AWS's seed code allows."""
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"not JSON or a Python literal: {text[:80]!r}") from exc


def get_pipeline_driver(module_name: str, passed_args: str | dict | None = None):
    """Import ``module_name`` and call its ``get_pipeline(**kwargs)``."""
    kwargs = convert_struct(passed_args) if isinstance(passed_args, str) else (passed_args or {})
    module = importlib.import_module(module_name)
    return module.get_pipeline(**kwargs)


def get_step_code(module_name: str, kwargs: dict):
    """The module's packaged step code for the bucket/prefix in ``kwargs``, if it has any."""
    module = importlib.import_module(module_name)
    if not hasattr(module, "get_step_code"):
        return None
    return module.get_step_code(kwargs.get("default_bucket"), kwargs.get("base_job_prefix", defaults.BASE_PREFIX))

"""A whole local pipeline run: render the definition, stage code and data, execute it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from scones.engine.executor import LocalPipelineExecutor, resolve_parameters
from scones.engine.progress import Reporter
from scones.engine.records import ExecutionRecord
from scones.registry import ModelRegistry
from scones.store import ArtifactStore

DEFAULT_MODULE = "pipelines.cifar.pipeline"


def load_pipeline_module(module_name: str = DEFAULT_MODULE):
    from pipelines.sdk import prepare_offline

    prepare_offline()
    return importlib.import_module(module_name)


def render_definition(module_name: str = DEFAULT_MODULE, **kwargs) -> tuple[str, dict]:
    """(pipeline name, definition) from a seed-code style module; no network call."""
    module = load_pipeline_module(module_name)
    pipeline = module.get_pipeline(**kwargs)
    return pipeline.name, json.loads(pipeline.definition())


def stage_input(store: ArtifactStore, definition: dict, parameters: dict[str, Any], input_path: Path | None,
                bucket: str, prefix: str, synthesize) -> dict[str, Any]:
    """Make sure InputDataUrl points at data in the store: a user file/folder, or a synthetic archive."""
    parameters = dict(parameters)
    if input_path is not None:
        input_path = Path(input_path)
        uri = f"s3://{bucket}/{prefix}/data/{input_path.name}"
        if input_path.is_dir():
            store.upload(input_path, uri)
        else:
            store.put_file(input_path, uri)
        parameters["InputDataUrl"] = uri
        return parameters
    uri = resolve_parameters(definition, parameters).get("InputDataUrl")
    if uri and uri.startswith("s3://") and not store.list(uri):
        print(f"no data at {uri}: writing a SYNTHETIC CIFAR-100 archive there (drawn images, real format)")
        store.put_file(synthesize(), uri)
    return parameters


def run_local_pipeline(store: ArtifactStore, registry: ModelRegistry, runs_dir: Path, scratch: Path,
                       parameters: dict[str, Any] | None = None, input_path: Path | None = None,
                       module_name: str = DEFAULT_MODULE, pipeline_kwargs: dict | None = None,
                       reporter: Reporter | None = None, use_cache: bool = True,
                       echo_logs: bool = False) -> ExecutionRecord:
    kwargs = dict(pipeline_kwargs or {})
    module = load_pipeline_module(module_name)
    pipeline = module.get_pipeline(**kwargs)
    definition = json.loads(pipeline.definition())
    bucket = kwargs.get("default_bucket") or getattr(module, "LOCAL_BUCKET", "scones-local")
    prefix = kwargs.get("base_job_prefix", "scones")
    if hasattr(module, "get_step_code"):
        module.get_step_code(bucket, prefix).upload(store)

    def synthesize() -> Path:
        from processing.synth import write_synthetic_archive

        return write_synthetic_archive(Path(scratch) / "cifar-100-python.tar.gz")

    parameters = stage_input(store, definition, parameters or {}, input_path, bucket, prefix, synthesize)
    executor = LocalPipelineExecutor(store, registry, runs_dir, reporter, use_cache=use_cache, echo_logs=echo_logs)
    return executor.start(definition, pipeline.name, parameters)

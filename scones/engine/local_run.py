"""A whole local pipeline run: render the definition, stage code and data, execute it."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

from common import defaults
from pipelines._utils import DEFAULT_MODULE
from scones.engine.executor import LocalPipelineExecutor, resolve_parameters
from scones.engine.progress import Reporter
from scones.engine.records import ExecutionRecord
from scones.errors import InvalidInput
from scones.registry import ModelRegistry
from scones.store import ArtifactStore
from scones.workspace import definition_cache


def load_pipeline_module(module_name: str = DEFAULT_MODULE):
    from pipelines.sdk import prepare_offline

    prepare_offline()
    return importlib.import_module(module_name)


def build_pipeline(module, kwargs: dict):
    """``module.get_pipeline(**kwargs)``; arguments it refuses (ValueError, TypeError) are the user's input."""
    try:
        return module.get_pipeline(**kwargs)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{module.__name__}.get_pipeline({', '.join(sorted(kwargs))}): {exc}") from exc


def render_definition(module_name: str = DEFAULT_MODULE, **kwargs) -> tuple[str, dict]:
    """(pipeline name, definition) from a seed-code style module; no network call."""
    module = load_pipeline_module(module_name)
    pipeline = build_pipeline(module, kwargs)
    return pipeline.name, json.loads(pipeline.definition())


def stage_input(store: ArtifactStore, definition: dict, parameters: dict[str, Any], input_path: Path | None,
                bucket: str, prefix: str, synthesize) -> dict[str, Any]:
    """Make sure the inputs hold data in the store: a user file/folder, or a synthetic archive.

    ReviewedDataUrl's prefix gets a placeholder when empty: SageMaker (and the engine, as it)
    refuses a processing input with no objects under it, and most runs have no reviewed images.
    """
    parameters = dict(parameters)
    _ensure_reviewed(store, resolve_parameters(definition, parameters))
    if input_path is not None:
        input_path = Path(input_path)
        if not input_path.exists():
            raise InvalidInput(f"input not found: {input_path}")
        uri = f"s3://{bucket}/{prefix}/data/{input_path.name}"
        if input_path.is_dir():
            store.sync(input_path, uri)  # a mirror: images deleted from the folder leave the data too
        else:
            store.put_file(input_path, uri)
        parameters["InputDataUrl"] = uri
        return parameters
    uri = resolve_parameters(definition, parameters).get("InputDataUrl")
    # only an archive's place gets a synthetic archive: another pipeline's empty prefix fails as in SageMaker
    if uri and uri.startswith("s3://") and uri.endswith(".tar.gz") and not store.list(uri):
        print(f"no data at {uri}: writing a SYNTHETIC CIFAR-100 archive there (drawn images, real format)")
        store.put_file(synthesize(), uri)
    return parameters


def _ensure_reviewed(store: ArtifactStore, parameters: dict[str, Any]) -> None:
    from scones.review.staging import ensure_reviewed_input

    uri = parameters.get("ReviewedDataUrl")
    if isinstance(uri, str) and uri.startswith("s3://"):
        ensure_reviewed_input(store, uri)


def _definition_key(module_name: str, kwargs: dict) -> str:
    """Everything a rendered definition depends on: the sources, the arguments, the SDK version."""
    from importlib.metadata import version

    from common.packaging import PROJECT_PACKAGES
    from pipelines.step_code import ROOT

    digest = hashlib.sha256(json.dumps([module_name, kwargs, version("sagemaker")], sort_keys=True).encode())
    # every project package: the step code the definition names by content digest bundles scones/ modules
    # too (the monitoring job's zipapp), so a change there must give a new rendering, not a stale code prefix
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def render_cached(module_name: str, kwargs: dict, cache_dir: Path | None) -> tuple[str, dict, Any]:
    """(name, definition, step code) -- from the cache when no input of the rendering changed.

    Importing the SageMaker SDK and rendering take ~3.5 s on 2 cores, more than
    a third of a whole local run; an unchanged pipeline renders identically.
    """
    from pipelines.step_code import build_step_code

    key = _definition_key(module_name, kwargs) if cache_dir else ""
    path = Path(cache_dir) / f"{key}.json" if cache_dir else None
    entry = None
    if path is not None and path.exists():
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = None  # a damaged cache entry is rendered again
    if entry is None:
        module = load_pipeline_module(module_name)
        pipeline = build_pipeline(module, kwargs)
        code = None
        if hasattr(module, "get_step_code"):
            code = {"bucket": kwargs.get("default_bucket") or defaults.LOCAL_BUCKET,
                    "prefix": kwargs.get("base_job_prefix", defaults.BASE_PREFIX)}
        entry = {"name": pipeline.name, "definition": json.loads(pipeline.definition()), "step_code": code}
        if path is not None:
            try:  # written whole, then renamed: a concurrent reader never sees half a file
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(json.dumps(entry), encoding="utf-8")
                os.replace(partial, path)
            except OSError:
                pass  # a read-only cache: render again next time
    code = entry["step_code"]
    step_code = build_step_code(code["bucket"], code["prefix"]) if code else None
    return entry["name"], entry["definition"], step_code


def run_local_pipeline(store: ArtifactStore, registry: ModelRegistry, runs_dir: Path, scratch: Path,
                       parameters: dict[str, Any] | None = None, input_path: Path | None = None,
                       module_name: str = DEFAULT_MODULE, pipeline_kwargs: dict | None = None,
                       reporter: Reporter | None = None, use_cache: bool = True,
                       echo_logs: bool = False, notifier=None, execution_id: str | None = None,
                       live_version=None, selection=None, max_parallel_steps: int | None = None) -> ExecutionRecord:
    kwargs = dict(pipeline_kwargs or {})
    name, definition, step_code = render_cached(module_name, kwargs, definition_cache())
    bucket = kwargs.get("default_bucket") or defaults.LOCAL_BUCKET
    prefix = kwargs.get("base_job_prefix", defaults.BASE_PREFIX)
    if step_code is not None:
        step_code.upload(store)
        bucket, prefix = step_code.prefix[len("s3://"):].split("/", 1)[0], prefix

    def synthesize() -> Path:
        from processing.synth import write_synthetic_archive

        return write_synthetic_archive(Path(scratch) / "cifar-100-python.tar.gz")

    parameters = stage_input(store, definition, parameters or {}, input_path, bucket, prefix, synthesize)
    executor = LocalPipelineExecutor(store, registry, runs_dir, reporter, use_cache=use_cache, echo_logs=echo_logs,
                                     notifier=notifier, live_version=live_version,
                                     max_parallel_steps=max_parallel_steps)
    return executor.start(definition, name, parameters, execution_id=execution_id, selection=selection)

"""Batch scoring: images per second through the batch pipeline, beside the endpoint's batch figure.

Trains and approves a small model (as ``bench/endpoint.py`` does), writes ``--images`` PNGs into a
folder and runs ``scones batch run --input FOLDER`` (CreateModel -> batch transform -> summary,
every step as SageMaker runs it, here), printing the whole run and the transform step alone in
images per second. For comparison, the same images are posted to a local endpoint in JSON batches
of 256. Last, what checking the requests against SageMaker's shapes adds to a pipeline run: the
validation of every step of the training and batch definitions, timed. Usage::

    python bench/batch.py [--images 1000] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from endpoint import ROOT, batch_rate, images, prepare, start_server, stop_server  # noqa: E402


def batch_run(home: Path, folder: Path) -> tuple[float, dict, Path]:
    """Seconds for the whole ``scones batch run``, each step's seconds, and the run's record folder."""
    env = {**os.environ, "SCONES_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scones.cli", "batch", "run", "--input", str(folder), "--no-review"],
                   env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    newest = max((home / "runs" / "SconesBatch").glob("*/execution.json"), key=lambda p: p.stat().st_mtime)
    steps = {s["name"]: s["ended"] - s["started"] for s in json.loads(newest.read_text())["steps"]}
    return seconds, steps, newest.parent


def handler_note(run: Path) -> str:
    """What the transform ran: the artifact's own packaged handler, which a model trained before a change to
    ``training/inference.py`` keeps (as in SageMaker); said when it differs from this checkout's."""
    packaged = next(run.glob("ScoreImages/**/model/code/training/inference.py"), None)
    if packaged is None:
        return ""
    if packaged.read_bytes() == (ROOT / "training" / "inference.py").read_bytes():
        return "  (the artifact's packaged handler is this checkout's)"
    return ("  (the artifact's packaged handler differs from this checkout's training/inference.py: the model was "
            "trained before it changed, so ScoreImages measures the older handler; a new --home trains a new one)")


def validation_ms() -> tuple[float, float, int]:
    """Milliseconds to check every step of both definitions against botocore's shapes: the first check
    (botocore's SageMaker model parsed, once per process) and all the checks after it."""
    from scones.engine.executor import resolve_parameters
    from scones.engine.expressions import Resolver
    from scones.engine.local_run import render_definition
    from scones.engine.request_shapes import step_request_errors

    requests = []
    for module in ("pipelines.cifar.pipeline", "pipelines.batch.pipeline"):
        _, definition = render_definition(module)
        fake = {"ModelName": "m", "TransformOutput": {"S3OutputPath": "s3://b/p"},
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": n, "S3Output": {"S3Uri": "s3://b/p"}}
                                                       for n in ("train", "validation", "test", "quarantine",
                                                                 "evaluation", "reviewed")]},
                "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}}
        resolver = Resolver(resolve_parameters(definition, {}), {"PipelineExecutionId": "e"}, lambda step, f=fake: f,
                            lambda ref: 0.9, lambda uri: 0.9)
        for step in definition["Steps"]:
            if step["Type"] != "Condition":
                requests.append((step["Type"], resolver.resolve(step["Arguments"])))
    from common.service_models import service_model

    service_model.cache_clear()  # what a run pays: the renders above already parsed the model once
    started = time.perf_counter()
    step_request_errors(*requests[0])
    first = time.perf_counter()
    for kind, arguments in requests[1:]:
        step_request_errors(kind, arguments)
    return (first - started) * 1000, (time.perf_counter() - first) * 1000, len(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    from common.imaging import encode_png  # noqa: F401 - fail early when the project is not installed

    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch) / "home"
        prepare(home)
        bodies = images(args.images)
        folder = Path(scratch) / "photos"
        folder.mkdir()
        for index, body in enumerate(bodies):
            (folder / f"img-{index:05d}.png").write_bytes(body)
        seconds, steps, run = batch_run(home, folder)
        note = handler_note(run)
        process, url = start_server(home)
        try:
            endpoint = batch_rate(url, bodies, min(256, len(bodies)), max(1, len(bodies) // 256))
        finally:
            stop_server(process)
    transform = steps["ScoreImages"]
    first, rest, count = validation_ms()
    print(f"batch scoring of {args.images} PNGs (32x32), 2-core machine")
    print(f"  scones batch run, whole pipeline:   {seconds:6.2f} s  {args.images / seconds:8.0f} images/s")
    print(f"  ScoreImages (the transform job):     {transform:6.2f} s  {args.images / transform:8.0f} images/s")
    if note:
        print(note)
    print(f"  endpoint, JSON batches of 256:                {endpoint:8.0f} images/s")
    print(f"  steps: {', '.join(f'{k} {v:.2f} s' for k, v in steps.items())}")
    print(f"request validation, {count} steps of the training and batch pipelines: {first + rest:.0f} ms in all "
          f"({first:.0f} ms for the first, which parses botocore's SageMaker model; {rest:.1f} ms for the other "
          f"{count - 1})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

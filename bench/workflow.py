"""Local inference workflow overhead: what serialize -> classify -> filter adds beyond the model call.

Starts a local endpoint (separate process), then measures, per image:
- the endpoint call alone, through boto3's sagemaker-runtime client (what the classifier does);
- one single-image state machine execution (start + wait);
- a Map execution over 1,000 images (the batch workflow);
- and, first, the upload of each image into the local world's S3.
The overhead is the workflow's time per image minus the endpoint call alone.
Goals: a single-image execution within 10 ms of its endpoint call, a Map item within 2 ms. Usage::

    python bench/workflow.py [--images 1000] [--single 50] [--home DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from endpoint import images, prepare, start_server, stop_server  # noqa: E402

#: Rounds of (direct endpoint calls, single-image executions), alternated.
ROUNDS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--single", type=int, default=50)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    from inference_workflow.workflow_config import WorkflowConfig
    from scones.serving.client import runtime_client
    from scones.workflow.runtime import EndpointTarget, LocalWorkflowRunner, workflow_handlers

    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch)
        prepare(home)
        bodies = images(64)
        process, url = start_server(home)
        try:
            client = runtime_client(url)
            for body in bodies[:20]:
                client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png", Body=body)

            def endpoint_call() -> float:
                """Seconds per direct call, over 40 calls."""
                started = time.perf_counter()
                for i in range(40):
                    client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png",
                                           Body=bodies[i % len(bodies)])
                return (time.perf_counter() - started) / 40

            target = EndpointTarget(url, "scones-endpoint", ("bicycle", "motorcycle"), 0.5)
            handlers = workflow_handlers(WorkflowConfig(), target)
            with LocalWorkflowRunner(handlers, cache_dir=home / "cache" / "workflows") as runner:
                started = time.perf_counter()
                keys = [runner.put_image(f"img/{i:05d}.png", bodies[i % len(bodies)]) for i in range(args.images)]
                upload = (time.perf_counter() - started) / args.images
                runner.classify_one(keys[0])
                runner.classify_batch(keys[:10])
                rounds = []  # (direct call, single execution): alternated, as this VM's speed drifts by the minute
                for _ in range(ROUNDS):
                    direct = endpoint_call()
                    started = time.perf_counter()
                    for key in keys[: args.single // ROUNDS]:
                        runner.classify_one(key)
                    rounds.append((direct, (time.perf_counter() - started) / (args.single // ROUNDS)))
                direct = statistics.median(d for d, _ in rounds)
                single = statistics.median(s for _, s in rounds)
                overhead = statistics.median(s - d for d, s in rounds)
                direct_after = endpoint_call()
                started = time.perf_counter()
                results = runner.classify_batch(keys)
                batch_total = time.perf_counter() - started
        finally:
            stop_server(process)
    passed = sum(r.status == "passed" for r in results)
    per_image = batch_total / args.images
    print("local inference workflow (moto's Step Functions interpreter, Lambdas in-process, real endpoint):")
    print(f"  endpoint call alone (boto3 sagemaker-runtime):      {direct * 1000:7.2f} ms per image  "
          f"(median of {ROUNDS} rounds)")
    print(f"  single-image execution, {args.single} runs:                {single * 1000:7.2f} ms per image  "
          f"(overhead {1000 * overhead:.2f} ms: the median over {ROUNDS} rounds, each against its own direct call)")
    print(f"  Map over {args.images} images: {batch_total:6.2f} s total, {per_image * 1000:7.2f} ms per image  "
          f"(overhead {1000 * (per_image - direct_after):.2f} ms against a direct call just before; {passed} passed)")
    print(f"  upload into the local world's S3 (what `scones classify` does per photo first): {upload * 1000:.2f} ms "
          "per image")
    print("  goals: a single-image execution within 10 ms of the endpoint call, a Map item within 2 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

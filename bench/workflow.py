"""Local inference workflow overhead: what serialize -> classify -> filter adds beyond the model call.

Starts a local endpoint (separate process), then measures, per image:
- the endpoint call alone, through boto3's sagemaker-runtime client (what the classifier does);
- one single-image state machine execution (start + wait);
- a Map execution over 1,000 images (the batch workflow).
The overhead is the workflow's time per image minus the endpoint call alone.
Goals: a single-image execution within 10 ms of its endpoint call, a Map item within 2 ms. Usage::

    python bench/workflow.py [--images 1000] [--single 50] [--home DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from endpoint import images, prepare, start_server, stop_server  # noqa: E402


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
            started = time.perf_counter()
            for i in range(200):
                client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png",
                                       Body=bodies[i % len(bodies)])
            direct = (time.perf_counter() - started) / 200
            target = EndpointTarget(url, "scones-endpoint", ("bicycle", "motorcycle"), 0.5)
            handlers = workflow_handlers(WorkflowConfig(), target)
            with LocalWorkflowRunner(handlers, cache_dir=home / "cache" / "workflows") as runner:
                keys = [runner.put_image(f"img/{i:05d}.png", bodies[i % len(bodies)]) for i in range(args.images)]
                runner.classify_one(keys[0])
                runner.classify_batch(keys[:10])
                started = time.perf_counter()
                for key in keys[: args.single]:
                    runner.classify_one(key)
                single = (time.perf_counter() - started) / args.single
                started = time.perf_counter()
                results = runner.classify_batch(keys)
                batch_total = time.perf_counter() - started
        finally:
            stop_server(process)
    passed = sum(r.status == "passed" for r in results)
    per_image = batch_total / args.images
    print("local inference workflow (moto's Step Functions interpreter, Lambdas in-process, real endpoint):")
    print(f"  endpoint call alone (boto3 sagemaker-runtime):      {direct * 1000:7.2f} ms per image")
    print(f"  single-image execution, {args.single} runs:                {single * 1000:7.2f} ms per image  "
          f"(overhead {1000 * (single - direct):.2f} ms)")
    print(f"  Map over {args.images} images: {batch_total:6.2f} s total, {per_image * 1000:7.2f} ms per image  "
          f"(overhead {1000 * (per_image - direct):.2f} ms; {passed} passed)")
    print("  goals: a single-image execution within 10 ms of the endpoint call, a Map item within 2 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

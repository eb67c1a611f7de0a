"""Human review at scale: the Review page over a long queue, and merging answers with a large capture.

Queues ITEMS review items (each with a 32x32 PNG in the artifact store), answers ANSWERS of them
(each answer written in A2I's output format), writes CAPTURE capture records of which the answered
ones carry the answers' inference ids, then times:
- the Review page (Flask's test client, the real app), first and later loads, with peak memory;
- the merge behind live accuracy: reading every answer document, reading the capture, and
  computing ``model_quality`` per version.

    python bench/review.py                       # 10,000 queued, 5,000 answered, 100,000 capture records
    python bench/review.py --items 2000 --capture 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=None, help="how many of the items get an answer (default half)")
    parser.add_argument("--capture", type=int, default=100_000)
    args = parser.parse_args()
    answers = args.items // 2 if args.answers is None else min(args.answers, args.items)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["SCONES_HOME"] = str(Path(scratch) / "home")
        import numpy as np

        from common.capture import capture_record
        from common.imaging import encode_png
        from scones.review import ReviewItem, item_id
        from scones.settings import Settings

        settings = Settings.from_env()
        store, queue = settings.store(), settings.review_queue()
        rng = np.random.default_rng(0)
        png = encode_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        started = time.perf_counter()
        ids = []
        for n in range(args.items):
            uri = f"s3://scones-workflow-local/inputs/bench/{n:06d}.png"
            store.put_bytes(uri, png)
            p = float(rng.uniform(0.5, 0.93))
            ids.append(queue.add(ReviewItem(id=item_id("bench", uri), image=uri, classes=("bicycle", "motorcycle"),
                                            probabilities=(p, 1 - p), model_version=1 + n % 2,
                                            reason="LowConfidenceError", inference_id=f"inf-{n}")).id)
        queued = time.perf_counter() - started
        started = time.perf_counter()
        for n, identifier in enumerate(ids[:answers]):
            queue.answer(identifier, "bicycle" if n % 5 else "motorcycle", "bench")
        answering = time.perf_counter() - started
        folder = Path(scratch) / "capture" / "scones-endpoint" / "AllTraffic"
        now = dt.datetime.now(dt.UTC)
        folder = folder / now.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True)
        with open(folder / "capture.jsonl", "w", encoding="utf-8") as handle:
            for n in range(args.capture):
                p = float(rng.uniform(0.5, 1.0))
                record = capture_record("image/png", png, "application/json", json.dumps([p, 1 - p]).encode(), now,
                                        {"modelVersion": str(1 + n % 2), "inferenceId": f"inf-{n}"})
                handle.write(json.dumps(record) + "\n")
        print(f"setup: {args.items:,} queued in {queued:.1f} s, {answers:,} answered in {answering:.1f} s, "
              f"{args.capture:,} capture records")

        from scones.ui.app import create_app

        client = create_app(settings).test_client()
        for load in (1, 2, 3):
            tracemalloc.start()
            started = time.perf_counter()
            response = client.get("/review", base_url="http://127.0.0.1:8090")
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert response.status_code == 200, response.status_code
            print(f"Review page load {load}: {seconds * 1000:7.1f} ms, peak Python memory {peak / 2**20:6.1f} MB "
                  f"({len(response.data) / 1024:.0f} KB of HTML)")

        from scones.monitor.capture_reader import read_capture
        from scones.review.output import read_answers
        from scones.review.quality import model_quality

        tracemalloc.start()
        started = time.perf_counter()
        truths, problems = read_answers(store, settings.review_output)
        read_seconds = time.perf_counter() - started
        scan = read_capture(Path(scratch) / "capture" / "scones-endpoint")
        capture_seconds = time.perf_counter() - started - read_seconds
        ids_seen = {p.inference_id for p in scan.predictions if p.inference_id}
        quality = model_quality(truths, ids_seen, {"1": 0.95, "2": 0.95}, {"1": 1.0, "2": 1.0})
        total = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"merge: {len(truths):,} answers read in {read_seconds:.2f} s, {len(scan.predictions):,} capture "
              f"records in {capture_seconds:.2f} s, model quality for {len(quality)} versions; {total:.2f} s in all, "
              f"peak Python memory {peak / 2**20:.0f} MB; {problems and len(problems) or 0} unreadable documents")
        for version, entry in sorted(quality.items()):
            print(f"  v{version}: accuracy {entry['accuracy']:.3f} ({entry['ci_low']:.3f}-{entry['ci_high']:.3f}) "
                  f"from {entry['reviewed']:,} answers, {entry['without_capture']:,} without a capture record")
        print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Dashboard page loads over a large synthetic data capture: time and memory stay bounded.

Writes HOURS hour folders of SageMaker-format capture (each record carries a base64 PNG, as the
endpoint's do), then times dashboard page loads (Flask's test client, the real app) and reports
the process's peak memory. The page reads only the last 24 hours, and finished hours come from
their summaries after the first load.

    python bench/dashboard.py                  # 72 hours x 2,000 requests (~0.5 GB of capture)
    python bench/dashboard.py --hours 24 --per-hour 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_capture(root: Path, hours: int, per_hour: int) -> int:
    import numpy as np

    from common.capture import capture_record
    from common.imaging import encode_png

    rng = np.random.default_rng(0)
    image = encode_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    total = 0
    for h in range(hours):
        start = now - dt.timedelta(hours=h)
        folder = root / "scones-endpoint" / "AllTraffic" / start.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(per_hour):
            p = float(rng.uniform(0.5, 1.0))
            record = capture_record("image/png", image, "application/json", json.dumps([p, 1 - p]).encode(),
                                    start + dt.timedelta(seconds=i * 3600 / per_hour), {"modelVersion": "1"})
            lines.append(json.dumps(record))
        data = "\n".join(lines) + "\n"
        (folder / "capture.jsonl").write_text(data)
        total += len(data)
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--per-hour", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args(argv)
    import os

    with tempfile.TemporaryDirectory(prefix="scones-bench-dashboard-") as scratch:
        os.environ["SCONES_HOME"] = scratch
        from scones.serving.run import capture_root
        from scones.settings import Settings
        from scones.ui.app import create_app

        settings = Settings.from_env()
        size = write_capture(capture_root(settings), args.hours, args.per_hour)
        print(f"capture: {args.hours} hours x {args.per_hour:,} requests = {size / 1e6:,.0f} MB")
        client = create_app(settings).test_client()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for load in range(1, args.loads + 1):
            started = time.perf_counter()
            page = client.get("/", base_url="http://127.0.0.1:8090")
            plot = client.get("/monitor.png", base_url="http://127.0.0.1:8090")
            seconds = time.perf_counter() - started
            assert page.status_code == 200 and plot.status_code == 200
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"load {load}: page + plot {seconds:6.2f} s; peak RSS {rss:6.0f} MB (before loads {base_rss:.0f} MB)")
    print("targets: peak memory set by the 24-hour window, not by the capture's size; later loads read finished "
          "hours from their summaries (what remains is mostly drawing the plot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

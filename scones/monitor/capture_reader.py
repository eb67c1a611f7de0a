"""Reading SageMaker data capture: JSON Lines, one object per request, many files per hour folder.

A line that is not JSON, lacks ``captureData``, or whose output is not
probabilities is counted as corrupt and skipped: monitoring reports bad data,
it does not die of it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Prediction:
    time: dt.datetime
    probabilities: tuple[float, ...]
    model_version: str = ""

    @property
    def top(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.top]


@dataclass
class CaptureScan:
    predictions: list[Prediction] = field(default_factory=list)
    lines: int = 0
    corrupt: int = 0
    files: int = 0
    corrupt_examples: list[str] = field(default_factory=list)


def _rows(data: object) -> list[list[float]]:
    if isinstance(data, list) and data and all(isinstance(v, (int, float)) for v in data):
        return [[float(v) for v in data]]
    if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
        return [[float(v) for v in row] for row in data]
    raise ValueError("output is not probabilities")


def parse_line(line: str) -> list[Prediction]:
    record = json.loads(line)
    output = record["captureData"]["endpointOutput"]
    if output.get("encoding", "JSON") == "BASE64":
        import base64

        data = json.loads(base64.b64decode(output["data"]))
    else:
        data = json.loads(output["data"])
    metadata = record.get("eventMetadata", {})
    when = dt.datetime.fromisoformat(metadata["inferenceTime"].replace("Z", "+00:00"))
    version = str(metadata.get("modelVersion", metadata.get("inferenceId", "")))
    return [Prediction(when, tuple(row), version) for row in _rows(data)]


def scan_lines(lines: Iterable[str], scan: CaptureScan) -> None:
    for line in lines:
        if not line.strip():
            continue
        scan.lines += 1
        try:
            scan.predictions.extend(parse_line(line))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            scan.corrupt += 1
            if len(scan.corrupt_examples) < 5:
                scan.corrupt_examples.append(f"{type(exc).__name__}: {str(exc)[:100]}")


def read_capture(source: str | Path, store=None) -> CaptureScan:
    """All predictions under a local capture folder or an ``s3://`` prefix, oldest first."""
    scan = CaptureScan()
    text = str(source)
    if text.startswith("s3://"):
        if store is None:
            raise ValueError("an s3:// capture prefix needs an artifact store")
        for uri, _ in store.list(text):
            if uri.endswith(".jsonl"):
                scan.files += 1
                scan_lines(store.get_bytes(uri).decode("utf-8", errors="replace").splitlines(), scan)
    else:
        for path in sorted(Path(text).rglob("*.jsonl")):
            scan.files += 1
            scan_lines(path.read_text(encoding="utf-8", errors="replace").splitlines(), scan)
    scan.predictions.sort(key=lambda p: p.time)
    return scan

"""Reading SageMaker data capture: JSON Lines, one object per request, many files per hour folder.

A line that is not JSON, lacks ``captureData``, or whose output is not
probabilities is counted as corrupt and skipped: monitoring reports bad data,
it does not die of it.

Capture grows without bound and most of its bytes are the requests' images, so a
reader never takes all of it: ``since`` skips hour folders (``YYYY/MM/DD/HH``) that
end before it without opening them, and a finished local hour is parsed once into
``.summary.json`` beside its files (outputs only, a few bytes per prediction), which
later reads use while the folder's files are unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from common.defaults import SHADOW_VARIANT_PREFIX


@dataclass(frozen=True)
class Prediction:
    time: dt.datetime
    probabilities: tuple[float, ...]
    model_version: str = ""
    inference_id: str = ""  # InvokeEndpoint's InferenceId, when the caller gave one: what ground truth joins on
    event_id: str = ""  # the capture record's eventId: a shadow's answer to the same request carries the same one

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
    version = str(metadata.get("modelVersion", ""))
    inference_id = str(metadata.get("inferenceId", ""))
    event_id = str(metadata.get("eventId", ""))
    return [Prediction(when, tuple(row), version, inference_id, event_id) for row in _rows(data)]


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


SUMMARY_FILE = ".summary.json"
_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:/|$)")


def hour_of(path: str) -> dt.datetime | None:
    """The UTC hour a capture path belongs to, from its ``YYYY/MM/DD/HH`` folders (None if it has none)."""
    match = _HOUR.search(path.replace(os.sep, "/"))
    if not match:
        return None
    try:
        return dt.datetime(*map(int, match.groups()), tzinfo=dt.UTC)
    except ValueError:
        return None


def _in_window(path: str, since: dt.datetime | None) -> bool:
    hour = hour_of(path)
    return since is None or hour is None or hour + dt.timedelta(hours=1) > since


def _hour_signature(files: list[Path]) -> list:
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _scan_hour(folder: Path, files: list[Path], finished: bool) -> CaptureScan:
    """One hour folder, from its summary when the files are unchanged, else parsed (and summarised if finished)."""
    summary_path = folder / SUMMARY_FILE
    signature = _hour_signature(files)
    if summary_path.exists():
        try:
            cached = json.loads(summary_path.read_text(encoding="utf-8"))
            if cached["signature"] == signature:
                return CaptureScan(
                    predictions=[Prediction(dt.datetime.fromisoformat(row[0]), tuple(row[1]), row[2], *row[3:5])
                                 for row in cached["rows"]],
                    lines=cached["lines"], corrupt=cached["corrupt"], files=len(files),
                    corrupt_examples=cached["corrupt_examples"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged summary is rebuilt from the files
    scan = CaptureScan()
    for path in files:
        scan.files += 1
        with open(path, encoding="utf-8", errors="replace") as handle:  # line by line: bounded memory
            scan_lines(handle, scan)
    if finished:
        rows = [[p.time.isoformat(), list(p.probabilities), p.model_version, p.inference_id, p.event_id]
                for p in scan.predictions]
        document = {"signature": signature, "rows": rows, "lines": scan.lines, "corrupt": scan.corrupt,
                    "corrupt_examples": scan.corrupt_examples}
        try:
            tmp = summary_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(document), encoding="utf-8")
            os.replace(tmp, summary_path)
        except OSError:
            pass  # read-only capture: still correct, just slower next time
    return scan


def _merge(into: CaptureScan, part: CaptureScan) -> None:
    into.predictions.extend(part.predictions)
    into.lines += part.lines
    into.corrupt += part.corrupt
    into.files += part.files
    into.corrupt_examples.extend(part.corrupt_examples[: max(0, 5 - len(into.corrupt_examples))])


def _shadow(relative: str) -> bool:
    """True for a path in a shadow variant's folder: a shadow's answers never reached a client."""
    return any(part.startswith(SHADOW_VARIANT_PREFIX) for part in relative.replace(os.sep, "/").split("/"))


def read_capture(source: str | Path, store=None, since: dt.datetime | None = None) -> CaptureScan:
    """Predictions under a local capture folder or an ``s3://`` prefix, oldest first.

    ``since`` (UTC) leaves out hour folders that end before it, unread; None reads everything.
    Shadow variants' folders below ``source`` are left out (what monitoring sees is what clients
    got); read one by passing its folder as ``source``.
    """
    scan = CaptureScan()
    text = str(source)
    if text.startswith("s3://"):
        if store is None:
            raise ValueError("an s3:// capture prefix needs an artifact store")
        for uri, _ in store.list(text):
            if uri.endswith(".jsonl") and _in_window(uri, since) and not _shadow(uri[len(text):]):
                scan.files += 1
                scan_lines(store.get_bytes(uri).decode("utf-8", errors="replace").splitlines(), scan)
    else:
        by_folder: dict[Path, list[Path]] = {}
        for path in sorted(Path(text).rglob("*.jsonl")):
            relative = str(path.relative_to(text))
            if _in_window(relative, since) and not _shadow(relative):
                by_folder.setdefault(path.parent, []).append(path)
        this_hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        for folder, files in by_folder.items():
            hour = hour_of(str(folder.relative_to(text)))
            _merge(scan, _scan_hour(folder, files, finished=hour is not None and hour < this_hour))
    if since is not None:
        scan.predictions = [p for p in scan.predictions if p.time >= since]
    scan.predictions.sort(key=lambda p: p.time)
    return scan

"""The batch-transform agent: what SageMaker runs beside a model container during a transform job.

It splits each input object into records (``SplitType``), applies the ``InputFilter``, sends
requests of one record or of several (``BatchStrategy``, ``MaxPayloadInMB``) to the model's own
serving handler -- the artifact's ``code/inference.py``, ``model_fn`` once and ``transform_fn``
per request, as SageMaker's PyTorch container calls them -- joins each answer with its input
(``JoinSource``), applies the ``OutputFilter`` and writes ``<object>.out`` (``AssembleWith``).

A request the handler refuses fails the job, as in SageMaker, naming the object and the record.

It runs as a plain program with only the standard library and the artifact's code on its path
(``python transform_agent.py CONFIG``), so nothing from this repository's training code leaks
into what is served: the artifact answers with its own handler or not at all.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MB = 1024 * 1024
_SEGMENT = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_\-]*)|\['([^']*)'\]|\["([^"]*)"\]|\[([^\]]*)\]""")


class RecordError(Exception):
    """A record the job cannot turn into an answer: the job fails with this message."""


def json_path(document, path: str):
    """SageMaker's JSONPath subset for transform filters: ``$``, ``.key``, ``['key']``, ``['a','b']``, ``[i]``,
    ``[i,j]``, ``[a:b]``, ``[*]``. A list selection keeps a list; a missing key is an error naming the path."""
    if not path.startswith("$"):
        raise RecordError(f"filter {path!r} must start with '$'")
    value, position = document, 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if not match:
            raise RecordError(f"cannot parse filter {path!r} at {path[position:]!r}")
        key = match.group(1) or match.group(2) or match.group(3)
        index = match.group(4)
        if key is not None:
            if not isinstance(value, dict) or key not in value:
                raise RecordError(f"filter {path!r}: the record has no {key!r}")
            value = value[key]
        else:
            value = _select(value, index.strip(), path)
        position = match.end()
    return value


def _select(value, index: str, path: str):
    if isinstance(value, dict) and index[:1] in ("'", '"'):  # ['id','SageMakerOutput']: those members
        names = [name.strip().strip("'\"") for name in index.split(",")]
        missing = [name for name in names if name not in value]
        if missing:
            raise RecordError(f"filter {path!r}: the record has no {missing}")
        return {name: value[name] for name in names}
    if not isinstance(value, list):
        raise RecordError(f"filter {path!r}: [{index}] applies to a list, the record has {type(value).__name__}")
    try:
        if index == "*":
            return value
        if ":" in index:
            start, _, stop = index.partition(":")
            return value[int(start) if start else None:int(stop) if stop else None]
        if "," in index:
            return [value[int(i)] for i in index.split(",")]
        return value[int(index)]
    except (ValueError, IndexError) as exc:
        raise RecordError(f"filter {path!r}: [{index}] ({exc})") from exc


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip() in ("application/json", "application/jsonlines")


def _is_csv(content_type: str) -> bool:
    return content_type.split(";")[0].strip() == "text/csv"


def _parse(record: bytes, content_type: str, what: str):
    try:
        if _is_json(content_type):
            return json.loads(record)
        if _is_csv(content_type):
            return next(csv.reader(io.StringIO(record.decode("utf-8"))), [])
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{what} is not {content_type} ({exc})") from exc
    raise RecordError(f"filters and JoinSource need JSON or CSV records; {what} is {content_type}")


def _serialize(value, content_type: str) -> bytes:
    if _is_csv(content_type):
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(value if isinstance(value, list) else [value])
        return out.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


class _Context:
    """What the serving toolkit hands a five-argument ``transform_fn``: the status lands here."""

    def __init__(self) -> None:
        self.status = 200

    def set_response_status(self, code: int = 200, phrase: str = "") -> None:
        self.status = code


class Agent:
    def __init__(self, config: dict):
        self.config = config
        sys.path.insert(0, str(Path(config["model_dir"]) / "code"))
        handler = importlib.import_module("inference")
        self.transform_fn = handler.transform_fn
        self.model = handler.model_fn(config["model_dir"])
        self.content_type = config.get("content_type") or "application/octet-stream"
        self.accept = config.get("accept") or "application/json"

    def records(self, data: bytes) -> list[bytes]:
        if self.config.get("split_type", "None") == "Line":
            return [line for line in data.split(b"\n") if line.strip()]
        return [data]

    def requests(self, records: list[bytes]) -> list[list[int]]:
        """Record indexes per request: one each, or as many as fit ``MaxPayloadInMB`` (MultiRecord)."""
        if self.config.get("batch_strategy", "SingleRecord") != "MultiRecord":
            return [[i] for i in range(len(records))]
        limit = int(self.config.get("max_payload_mb") or 6) * MB
        batches: list[list[int]] = []
        size = 0
        for index, record in enumerate(records):
            if batches and size + len(record) + 1 <= limit:
                batches[-1].append(index)
                size += len(record) + 1
            else:
                batches.append([index])
                size = len(record)
        return batches

    def invoke(self, body: bytes, what: str) -> bytes:
        context = _Context()
        answer, _ = self.transform_fn(self.model, body, self.content_type, self.accept, context)
        answer = answer.encode() if isinstance(answer, str) else bytes(answer)
        if context.status >= 400:
            raise RecordError(f"{what}: the model container answered {context.status}: "
                              f"{answer.decode('utf-8', 'replace')[:300]}")
        return answer

    def filtered_input(self, record: bytes, what: str) -> bytes:
        path = self.config.get("input_filter") or "$"
        if path == "$":
            return record
        return _serialize(json_path(_parse(record, self.content_type, what), path), self.content_type)

    def output(self, record: bytes, answer: bytes, what: str) -> bytes:
        join = self.config.get("join_source", "None") == "Input"
        path = self.config.get("output_filter") or "$"
        if not join and path == "$":
            return answer
        if join:
            source = _parse(record, self.content_type, what)
            result = _parse(answer, self.accept, f"{what}'s answer") if _is_json(self.accept) or _is_csv(
                self.accept) else answer.decode("utf-8", "replace")
            if isinstance(source, dict):
                joined = {**source, "SageMakerOutput": result}
            elif isinstance(source, list):
                joined = [*source, *(result if isinstance(result, list) and _is_csv(self.content_type)
                                     else [result])]
            else:
                raise RecordError(f"{what}: JoinSource Input needs a JSON object or array, or a CSV row")
            kind = self.content_type
        else:
            joined, kind = _parse(answer, self.accept, f"{what}'s answer"), self.accept
        return _serialize(json_path(joined, path) if path != "$" else joined, kind)

    def transform_object(self, source: Path, target: Path, name: str) -> int:
        records = self.records(source.read_bytes())
        outputs: list[bytes] = []
        for batch in self.requests(records):
            what = f"{name} record {batch[0] + 1}" + (f"-{batch[-1] + 1}" if len(batch) > 1 else "")
            body = b"\n".join(self.filtered_input(records[i], what) for i in batch)
            answer = self.invoke(body, what)
            parts = answer.split(b"\n") if len(batch) > 1 else [answer]
            if len(parts) != len(batch):
                raise RecordError(f"{what}: {len(batch)} records sent, {len(parts)} answers received")
            outputs += [self.output(records[i], part, what) for i, part in zip(batch, parts, strict=True)]
        separator = b"\n" if self.config.get("assemble_with", "None") == "Line" else b""
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(separator.join(outputs) + (separator if outputs else b""))
        return len(records)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    started = time.monotonic()
    agent = Agent(config)
    source_dir, output_dir = Path(config["input_dir"]), Path(config["output_dir"])
    objects = sorted(p for p in source_dir.rglob("*") if p.is_file())
    print(f"transform: {len(objects)} objects, model loaded in {time.monotonic() - started:.2f} s", flush=True)

    def one(path: Path) -> int:
        relative = path.relative_to(source_dir).as_posix()
        return agent.transform_object(path, output_dir / f"{relative}.out", relative)

    try:
        with ThreadPoolExecutor(max(1, int(config.get("max_concurrent") or 1))) as pool:
            records = sum(pool.map(one, objects))
    except RecordError as exc:
        print(f"ClientError: {exc}", flush=True)
        return 1
    seconds = time.monotonic() - started
    print(f"transform: {records} records from {len(objects)} objects in {seconds:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

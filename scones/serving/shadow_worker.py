"""The shadow's own process: answers the copies the endpoint sends, captures each answer, reports its counts.

Run by :class:`scones.serving.shadow.ShadowRunner` as ``python -m scones.serving.shadow_worker MODEL_DIR
CAPTURE_FOLDER VERSION`` at the lowest CPU priority (nice 19), as SageMaker runs a shadow variant in
its own container: it shares no interpreter lock with the endpoint, so its work costs live requests
only the CPU the kernel gives it when a core is idle.

Frames on stdin: a 4-byte big-endian header length, a JSON header (``content_type``, ``accept``,
``metadata``, ``length``), then the body. On stdout, after each copy once nothing more is waiting:
``<answered> <failed>``. End of stdin ends the process.
"""

from __future__ import annotations

import json
import os
import select
import struct
import sys
from pathlib import Path


def _read_exactly(stream, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main(argv: list[str]) -> int:
    model_dir, capture_folder, version = argv
    try:  # run only on a core that would otherwise idle (Linux); elsewhere, the lowest priority
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass
    from training import inference

    model = inference.LoadedModel(Path(model_dir), threads=1)
    writer = None
    if capture_folder:
        from scones.serving.capture import CaptureWriter

        folder = Path(capture_folder)
        writer = CaptureWriter(folder.parent.parent, folder.parent.name, folder.name)
    stdin, stdout = sys.stdin.buffer, sys.stdout
    answered = failed = 0
    stdout.write("ready\n")
    stdout.flush()
    while (size := _read_exactly(stdin, 4)) is not None:
        header = json.loads(_read_exactly(stdin, struct.unpack(">I", size)[0]))
        body = _read_exactly(stdin, header["length"])
        if body is None:
            break
        try:
            output, output_type = inference.handle(body, header["content_type"], header["accept"], model)
            answered += 1
        except inference.InferenceError as error:
            output, output_type, failed = error.to_json(), "application/json", failed + 1
        except Exception as exc:  # noqa: BLE001 - a failing candidate is a finding, not a crash
            output = json.dumps({"error": "internal_error", "message": f"{type(exc).__name__}: {exc}"}).encode()
            output_type, failed = "application/json", failed + 1
        if writer is not None:
            writer.record(header["content_type"], body, output_type, output, **header["metadata"],
                          modelVersion=version)
        if not select.select([stdin], [], [], 0)[0]:  # caught up: make the records durable, then tell
            if writer is not None:
                writer.flush()
            stdout.write(f"{answered} {failed}\n")
            stdout.flush()
    if writer is not None:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

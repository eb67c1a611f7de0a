"""The capture process: writes the records an endpoint hands it (:class:`scones.serving.capture.CaptureProcess`).

Reads length-prefixed pickled messages on stdin -- ``("records", [(relative folder, when, input type,
body, output type, output, metadata), ...])`` and ``("flush", n)`` -- appends each record to its
variant's hourly file, and answers a flush with ``flushed n`` once everything before it has reached
the OS. It stops only at the end of its input: a SIGTERM or Ctrl-C meant for the endpoint (the
same process group) must not drop records, and when the endpoint is killed outright the pipe still
holds what it sent, which is written before this process exits.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from pathlib import Path


def _read_exactly(stream, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def main(argv: list[str]) -> int:
    from scones.serving.capture import CaptureFiles

    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        os.nice(10)  # background work: the endpoint and its clients come first
    except OSError:
        pass
    root = Path(argv[0])
    files: dict[str, CaptureFiles] = {}
    stdin, stdout = sys.stdin.buffer, sys.stdout
    try:
        while (size := _read_exactly(stdin, 4)) is not None:
            message = _read_exactly(stdin, struct.unpack(">I", size)[0])
            if message is None:
                break
            kind, payload = pickle.loads(message)  # noqa: S301 - written by the endpoint that started this process
            if kind == "records":
                for relative, *record in payload:
                    writer = files.get(relative)
                    if writer is None:
                        writer = files[relative] = CaptureFiles(root / relative)
                    writer.write(*record)
                for writer in files.values():
                    writer.flush()
            elif kind == "flush":
                stdout.write(f"flushed {payload}\n")
                stdout.flush()
    finally:
        for writer in files.values():
            writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

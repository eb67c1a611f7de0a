"""The capture process: writes the records an endpoint hands it (:class:`scones.serving.capture.CaptureProcess`).

Reads length-prefixed pickled messages on stdin -- ``("records", [(relative folder, when (a POSIX
timestamp), input type, body, output type, output, metadata), ...])`` and ``("flush", n)`` -- appends each record to its
variant's hourly file, and answers a flush with ``flushed n`` once everything before it has reached
the OS. It stops only at the end of its input: a SIGTERM or Ctrl-C meant for the endpoint (the
same process group) must not drop records, and when the endpoint is killed outright the pipe still
holds what it sent, which is written before this process exits.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import struct
import sys
import time
from pathlib import Path

#: Bytes read from the pipe at once.
READ_BYTES = 1 << 20


def _frames(buffer: bytearray) -> list[bytes]:
    """The whole frames at the start of ``buffer``, removed from it (a frame cut by the read stays for the next)."""
    frames, at = [], 0
    while len(buffer) - at >= 4:
        size = struct.unpack_from(">I", buffer, at)[0]
        if len(buffer) - at - 4 < size:
            break
        frames.append(bytes(buffer[at + 4:at + 4 + size]))
        at += 4 + size
    del buffer[:at]
    return frames


def main(argv: list[str]) -> int:
    from scones.serving.capture import LINGER_SECONDS, CaptureFiles

    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        os.nice(10)  # background work: the endpoint and its clients come first
    except OSError:
        pass
    root = Path(argv[0])
    files: dict[str, CaptureFiles] = {}
    stdout = sys.stdout
    buffer = bytearray()
    try:
        while data := os.read(0, READ_BYTES):
            buffer += data
            for frame in _frames(buffer):
                kind, payload = pickle.loads(frame)  # noqa: S301 - written by the endpoint that started this process
                if kind == "records":
                    for relative, when, *record in payload:
                        writer = files.get(relative)
                        if writer is None:
                            writer = files[relative] = CaptureFiles(root / relative)
                        writer.write(dt.datetime.fromtimestamp(when, dt.UTC), *record)
                elif kind == "flush":
                    for writer in files.values():
                        writer.flush()
                    stdout.write(f"flushed {payload}\n")
                    stdout.flush()
            for writer in files.values():
                writer.flush()
            time.sleep(LINGER_SECONDS)  # let records gather in the pipe: a write into it then wakes no one
    finally:
        for writer in files.values():
            writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

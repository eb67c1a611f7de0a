"""Builders for test inputs: hostile image bytes and tiny datasets."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from common.imaging import encode_png


class RecordingTransport:
    """An asyncio transport that records each write (``writelines`` as one), for a protocol under test."""

    def __init__(self):
        self.sends, self.closed = [], False

    def write(self, data):
        self.sends.append(bytes(data))

    def writelines(self, parts):
        self.sends.append(b"".join(parts))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking greyscale PNG whose header declares ``width x height``; a few KB on disk."""
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(min(height, 64))) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def random_png(size: int = 32, seed: int = 0, mode: str = "RGB") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    if mode == "RGB":
        return encode_png(pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def photo(colour: tuple[int, int, int], size: tuple[int, int], seed: int, fmt: str) -> bytes:
    """A noisy ``size`` (width, height) image around ``colour``, encoded as ``fmt`` (PNG, JPEG, WEBP)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(colour, 25, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def red_and_blue_folder(folder: Path, per_class: int, seed: int) -> Path:
    """An image folder of two easy classes (``red/``, ``blue/``), 40x40 PNGs."""
    rng = np.random.default_rng(seed)
    for name in ("red", "blue"):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.zeros((40, 40, 3), np.uint8) + rng.integers(0, 60, (40, 40, 3), dtype=np.uint8)
            pixels[..., 0 if name == "red" else 2] += 180
            (folder / name / f"{i}.png").write_bytes(encode_png(pixels))
    return folder


def truncated_png(seed: int = 0) -> bytes:
    data = random_png(seed=seed)
    return data[: len(data) // 2]


def constant_png(value: int = 128) -> bytes:
    return encode_png(np.full((32, 32, 3), value, dtype=np.uint8))


def jpeg_bytes(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def wait_for(predicate, timeout: float = 10.0) -> None:
    """Poll until ``predicate()`` is true (recorded state, not a sleep); fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def debian_program(program: str, package: str, allow_missing: str) -> str:
    """The path of ``program``, installing Debian's ``package`` when it is missing and this is root with apt-get.

    A test that needs it fails when it cannot be had, unless the environment variable ``allow_missing`` is 1:
    then it skips, on purpose and by name. CI does not set it.
    """
    import os
    import shutil
    import subprocess

    import pytest

    def missing(reason: str):
        if os.environ.get(allow_missing) == "1":
            pytest.skip(f"{reason} ({allow_missing}=1)")
        pytest.fail(f"{reason}; install Debian's {package}, or set {allow_missing}=1 to skip on purpose")

    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        try:  # the machine reaches Debian's registry
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True,
                           timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (subprocess.SubprocessError, OSError) as exc:
            missing(f"{program} is not installed and apt-get could not install {package}: {exc}")
        found = shutil.which(program)
    if not found:
        missing(f"{program} is not installed, and this is not root with apt-get to install {package}")
    return found


def contrary_artifact(tarball: Path, target: Path) -> Path:
    """A copy of a model artifact whose final layer is negated: it loads and passes the probe check like the
    original, and always picks the other class (two classes): a candidate that disagrees, in its own process."""
    import tarfile
    import tempfile

    import onnx
    from onnx import numpy_helper

    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(tarball) as archive:
            archive.extractall(scratch, filter="data")
        path = Path(scratch) / "model.onnx"
        model = onnx.load(path)
        gemm = [node for node in model.graph.node if node.op_type == "Gemm"][-1]
        for initializer in model.graph.initializer:
            if initializer.name in gemm.input[1:]:
                initializer.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(initializer), initializer.name))
        onnx.save(model, path)
        with tarfile.open(target, "w:gz") as archive:
            for item in sorted(Path(scratch).iterdir()):
                archive.add(item, arcname=item.name)
    return target

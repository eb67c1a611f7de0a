"""The plain-PNG path (common.imaging.PlainPng) decodes what Pillow decodes, byte for byte, and refuses what
Pillow refuses, with Pillow's reason: every byte of a real image flipped, every cut, and the variants it must
leave to Pillow."""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from common import imaging
from tests import support


def pillow(data: bytes):
    """What Pillow's own plugin makes of the bytes: RGB pixels, or the ImageError the project raises for them."""
    try:
        return np.asarray(imaging.to_rgb(imaging.load_image(imaging.inspect_image(data))), dtype=np.uint8)
    except imaging.ImageError as error:
        return type(error), error.message


def ours(data: bytes):
    try:
        image = imaging.load_image(imaging.inspect(data))
    except imaging.ImageError as error:
        return type(error), error.message
    return image.pixels if isinstance(image, imaging.PlainPng) else np.asarray(imaging.to_rgb(image), dtype=np.uint8)


def same(left, right) -> bool:
    if isinstance(left, np.ndarray) and isinstance(right, np.ndarray):
        return left.shape == right.shape and bool((left == right).all())
    return left == right


def with_chunks(pixels: np.ndarray, extra: list[tuple[bytes, bytes]] = (), idat_parts: int = 1,
                interlace: int = 0) -> bytes:
    """An RGB PNG written by hand: ``extra`` chunks after IHDR, the IDAT stream split in ``idat_parts``."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))
    stream = zlib.compress(raw)
    step = -(-len(stream) // idat_parts)
    idat = b"".join(support.png_chunk(b"IDAT", stream[i:i + step]) for i in range(0, len(stream), step))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (imaging.PNG_SIGNATURE + support.png_chunk(b"IHDR", header)
            + b"".join(support.png_chunk(kind, payload) for kind, payload in extra) + idat
            + support.png_chunk(b"IEND", b""))


PIXELS = np.random.default_rng(3).integers(0, 256, (9, 13, 3), dtype=np.uint8)


@pytest.mark.parametrize("data", [
    support.random_png(),
    imaging.encode_png(PIXELS),
    with_chunks(PIXELS, idat_parts=3),
    with_chunks(PIXELS, [(b"gAMA", struct.pack(">I", 45455)), (b"sRGB", b"\x00")]),
], ids=["etl-32", "etl-13x9", "three-idat", "gama-srgb"])
def test_plain_pngs_take_the_fast_path_and_give_pillows_pixels(data):
    assert isinstance(imaging.inspect(data), imaging.PlainPng)
    assert same(ours(data), pillow(data)) and isinstance(ours(data), np.ndarray)


def _saved(mode: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(PIXELS, "RGB").convert(mode).save(buffer, format="PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [
    _saved("P"), _saved("RGBA"), _saved("L"), _saved("I;16"),
    with_chunks(PIXELS, [(b"tEXt", b"Comment\x00hello")]),
    with_chunks(PIXELS, [(b"tRNS", b"\x00\x00\x00\x00\x00\x00")]),
    with_chunks(PIXELS, interlace=1),
    support.truncated_png(), support.bomb_png(20000, 20000),
], ids=["palette", "rgba", "grey", "16-bit", "text", "transparency", "interlaced", "truncated", "bomb"])
def test_anything_else_is_left_to_pillow(data):
    assert imaging.plain_png(data) is None
    assert same(ours(data), pillow(data))


def test_a_plain_png_whose_pixels_do_not_decode_is_refused_with_pillows_reason():
    data = bytearray(imaging.encode_png(PIXELS))
    start = data.index(b"IDAT") + 4
    data[start + 2:start + 12] = b"\xff" * 10  # the deflate stream is broken; every chunk is still whole
    data = bytes(data)
    assert isinstance(imaging.inspect(data), imaging.PlainPng), "the layout looks plain"
    result = ours(data)
    assert result == pillow(data) and result[0] is imaging.TruncatedImageError, result


ORIGINAL = with_chunks(PIXELS, [(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))], idat_parts=2)


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_every_flipped_byte_ends_as_pillow_ends(flip):
    for position in range(len(ORIGINAL)):
        data = bytearray(ORIGINAL)
        data[position] ^= flip
        assert same(ours(bytes(data)), pillow(bytes(data))), (position, flip)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(ORIGINAL) - 1), st.integers(1, 255))
def test_any_flipped_byte_ends_as_pillow_ends(position, flip):
    data = bytearray(ORIGINAL)
    data[position] ^= flip
    assert same(ours(bytes(data)), pillow(bytes(data)))


def test_every_cut_ends_as_pillow_ends():
    for length in range(len(ORIGINAL)):
        assert same(ours(ORIGINAL[:length]), pillow(ORIGINAL[:length])), length

"""Synthetic CIFAR-100: procedurally drawn pictures in the official archive format.

The real archive cannot be downloaded on machines without internet, yet every
step downstream (ETL, check, training, serving) should run on the very format
it meets in production. These images are *synthetic*: a bicycle is two thin
rings joined by a frame, a motorcycle two thick dark wheels under a bulky body;
other classes get a pattern derived from their name. Colours, positions, sizes,
backgrounds and noise vary per image, so a model has something to learn but
no single pixel gives the answer away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from processing.cifar import (
    COARSE_LABEL_NAMES,
    COARSE_TO_FINE,
    FINE_LABEL_NAMES,
    CifarSplit,
    write_tarball,
)

SCALE = 4  # draw at 128x128 and downsample, which anti-aliases like a real photo
SIZE = 32

#: Name stems seen in the real archive's ``filenames`` for these classes.
FILENAME_STEMS: dict[str, tuple[str, ...]] = {
    "bicycle": ("bicycle", "bike", "safety_bike", "ordinary_bicycle", "cycle"),
    "motorcycle": ("motorcycle", "minibike", "motorbike", "trail_bike", "moped"),
}

Drawer = Callable[[ImageDraw.ImageDraw, np.random.Generator], None]


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def _background(rng: np.random.Generator) -> Image.Image:
    top, bottom = np.array(_colour(rng, 90, 256)), np.array(_colour(rng, 60, 230))
    ramp = np.linspace(0.0, 1.0, SIZE * SCALE)[:, None, None]
    pixels = top * (1 - ramp) + bottom * ramp
    pixels = np.broadcast_to(pixels, (SIZE * SCALE, SIZE * SCALE, 3))
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _draw_bicycle(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    s = SCALE
    radius = rng.uniform(6.0, 8.5) * s
    gap = rng.uniform(2.0 * radius + 1 * s, 2.0 * radius + 6 * s)
    cx = rng.uniform(16 * s - 3 * s, 16 * s + 3 * s)
    cy = rng.uniform(18 * s, 22 * s)
    left, right = cx - gap / 2, cx + gap / 2
    frame = _colour(rng, 0, 200)
    width = int(rng.uniform(0.6, 1.1) * s)
    for x in (left, right):
        draw.ellipse((x - radius, cy - radius, x + radius, cy + radius), outline=(20, 20, 20), width=width)
    seat = (cx - gap * 0.15, cy - radius * 1.1)
    bar = (right - radius * 0.2, cy - radius * 1.3)
    draw.line((left, cy, seat[0], seat[1], cx, cy, left, cy), fill=frame, width=width)
    draw.line((cx, cy, bar[0], bar[1], right, cy), fill=frame, width=width)
    draw.line((seat[0], seat[1], bar[0], bar[1] + radius * 0.2), fill=frame, width=width)


def _draw_motorcycle(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    s = SCALE
    radius = rng.uniform(5.5, 7.5) * s
    gap = rng.uniform(2.0 * radius + 2 * s, 2.0 * radius + 5 * s)
    cx = rng.uniform(16 * s - 3 * s, 16 * s + 3 * s)
    cy = rng.uniform(19 * s, 23 * s)
    left, right = cx - gap / 2, cx + gap / 2
    for x in (left, right):
        draw.ellipse((x - radius, cy - radius, x + radius, cy + radius), fill=(25, 25, 25))
        hub = radius * 0.35
        draw.ellipse((x - hub, cy - hub, x + hub, cy + hub), fill=(150, 150, 150))
    body = _colour(rng, 60, 256)
    top = cy - radius * rng.uniform(1.5, 2.0)
    draw.polygon(
        [(left + radius * 0.3, cy - radius * 0.5), (cx - gap * 0.1, top), (right - radius * 0.1, top + radius * 0.3),
         (right - radius * 0.4, cy - radius * 0.3), (cx, cy)],
        fill=body,
    )
    draw.rectangle((cx - gap * 0.3, top - 1.5 * s, cx + gap * 0.05, top + 1 * s), fill=(30, 30, 30))


def _generic_drawer(name: str) -> Drawer:
    """A class-specific pattern: stripe angle, frequency and blob count come from the name's hash."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    angle = (seed % 180) * np.pi / 180
    period = 6 + (seed >> 8) % 14
    blobs = 1 + (seed >> 16) % 4

    def draw(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
        s = SCALE
        colour = _colour(rng, 0, 200)
        dx, dy = np.cos(angle), np.sin(angle)
        offset = rng.uniform(0, period * s)
        for k in range(-12, 12):
            px, py = 16 * s + dy * (k * period * s + offset), 16 * s - dx * (k * period * s + offset)
            draw.line((px - dx * 80 * s, py - dy * 80 * s, px + dx * 80 * s, py + dy * 80 * s), fill=colour, width=s)
        for _ in range(blobs):
            x, y, r = rng.uniform(6, 26) * s, rng.uniform(6, 26) * s, rng.uniform(2, 5) * s
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))

    return draw


DRAWERS: dict[str, Drawer] = {"bicycle": _draw_bicycle, "motorcycle": _draw_motorcycle}


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """Rings, bars and blobs shared by every class, so no single shape gives the label away."""
    s = SCALE
    for _ in range(int(rng.integers(1, 5))):
        x, y, r = rng.uniform(0, 32) * s, rng.uniform(0, 32) * s, rng.uniform(2, 9) * s
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=_colour(rng), width=int(rng.uniform(0.5, 2.5) * s))
        elif kind == 1:
            draw.line((x, y, x + rng.uniform(-12, 12) * s, y + rng.uniform(-12, 12) * s),
                      fill=_colour(rng), width=int(rng.uniform(0.5, 2) * s))
        else:
            draw.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2), fill=_colour(rng))


def draw_image(class_name: str, rng: np.random.Generator) -> np.ndarray:
    """One 32x32x3 uint8 picture of ``class_name``."""
    canvas = _background(rng)
    drawer = DRAWERS.get(class_name) or _generic_drawer(class_name)
    draw = ImageDraw.Draw(canvas)
    _clutter(draw, rng)
    drawer(draw, rng)
    if rng.random() < 0.3:
        _clutter(draw, rng)
    if rng.random() < 0.5:
        canvas = canvas.transpose(Image.FLIP_LEFT_RIGHT)
    small = canvas.resize((SIZE, SIZE), Image.LANCZOS).filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.6)))
    pixels = np.asarray(small, dtype=np.int16) + rng.normal(0, 10, size=(SIZE, SIZE, 3)).astype(np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _filename(class_name: str, number: int, rng: np.random.Generator) -> str:
    stems = FILENAME_STEMS.get(class_name, (class_name,))
    return f"{stems[int(rng.integers(len(stems)))]}_s_{number:06d}.png"


def _coarse_index(fine_name: str) -> int:
    for index, fines in enumerate(COARSE_TO_FINE.values()):
        if fine_name in fines:
            return index
    raise KeyError(fine_name)


def make_split(name: str, classes: Sequence[str], per_class: int, rng: np.random.Generator,
               first_number: int = 0, fine_label_names: Sequence[str] = FINE_LABEL_NAMES) -> CifarSplit:
    """Draw ``per_class`` images of each class, interleaved as in the real archive."""
    unknown = [c for c in classes if c not in fine_label_names]
    if unknown:
        raise ValueError(f"unknown CIFAR-100 classes {unknown}; valid names include {list(fine_label_names[:5])}...")
    order = [c for _ in range(per_class) for c in classes]
    rng.shuffle(order)
    images = np.stack([draw_image(c, rng) for c in order]) if order else np.zeros((0, 32, 32, 3), np.uint8)
    numbers = rng.permutation(np.arange(first_number, first_number + len(order) * 7))[: len(order)]
    return CifarSplit(
        name=name,
        images=images,
        fine_labels=np.array([fine_label_names.index(c) for c in order], dtype=np.int64),
        coarse_labels=np.array([_coarse_index(c) for c in order], dtype=np.int64),
        filenames=tuple(_filename(c, int(n), rng) for c, n in zip(order, numbers, strict=True)),
    )


def write_synthetic_archive(path: Path, classes: Sequence[str] = ("bicycle", "motorcycle"),
                            train_per_class: int = 500, test_per_class: int = 100, seed: int = 0) -> Path:
    """Write a synthetic ``cifar-100-python.tar.gz`` (defaults mirror the real class sizes)."""
    rng = np.random.default_rng(seed)
    train = make_split("train", classes, train_per_class, rng)
    test = make_split("test", classes, test_per_class, rng, first_number=len(train.filenames) * 7)
    return write_tarball(Path(path), train, test, FINE_LABEL_NAMES, COARSE_LABEL_NAMES)

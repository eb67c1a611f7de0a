"""Image-folder datasets: one sub-folder per class, any size and format, optional splits.

Layouts accepted (the dog-breed data uses the second)::

    <root>/<class>/<image>                          -> a seeded, stratified train/validation/test split
    <root>/{train,valid|validation,test}/<class>/<image>   -> those splits kept

Every image is fitted to the model's input with :func:`common.imaging.fit_to_input`
-- the one documented resize/crop that serving uses too -- and written as PNG.
A file that cannot be decoded is not dropped: its bytes are written unchanged
and listed, so the corrupt-image check quarantines it and reports why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.imaging import INPUT_SIZE, ImageError, encode_png, to_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "val": "validation",
               "test": "test"}


def is_image_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def listing_key(relative: str) -> tuple[str, ...]:
    """The order files are planned in: path segment by segment, as :class:`pathlib.Path` sorts."""
    return tuple(relative.split("/"))


def list_images(root: Path) -> list[str]:
    """Every image under ``root``'s (non-hidden) sub-folders, as ``/``-separated relative paths.

    The plan is made from this listing alone, never from the folder: on a sharded processing
    job each instance holds only its share of the files, and the listings are merged first.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.relative_to(root).as_posix() for top in root.iterdir() if top.is_dir() and not top.name.startswith(".")
             for p in top.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=listing_key)


def discover(listing: Sequence[str]) -> tuple[list[str], dict[str, list[tuple[str, str]]] | None,
                                               dict[str, list[str]]]:
    """(classes, pre-split files or None, files per class when not pre-split), from a listing."""
    by_top: dict[str, list[str]] = {}
    for relative in sorted(listing, key=listing_key):
        top, _, rest = relative.partition("/")
        if rest and not top.startswith("."):
            by_top.setdefault(top, []).append(relative)
    if by_top and set(by_top) <= set(SPLIT_NAMES):
        splits: dict[str, list[tuple[str, str]]] = {}
        for name in sorted(by_top):
            for relative in by_top[name]:
                class_name, _, rest = relative.split("/", 1)[1].partition("/")
                if rest and not class_name.startswith("."):
                    splits.setdefault(SPLIT_NAMES[name], []).append((relative, class_name))
        classes = sorted({c for items in splits.values() for _, c in items})
        return classes, splits, {}
    return sorted(by_top), None, by_top


def stratified_split(labels: list[int], fractions: tuple[float, float], seed: int) -> list[str]:
    """Assign each item to train/validation/test, the same shares within every class."""
    rng = np.random.default_rng(seed)
    assignment = ["train"] * len(labels)
    for label in sorted(set(labels)):
        rows = [i for i, v in enumerate(labels) if v == label]
        rng.shuffle(rows)
        n_val, n_test = int(round(len(rows) * fractions[0])), int(round(len(rows) * fractions[1]))
        for i in rows[:n_val]:
            assignment[i] = "validation"
        for i in rows[n_val:n_val + n_test]:
            assignment[i] = "test"
    return assignment


def safe_file_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name).stem).strip(" .") or "image"
    return stem


def load_items(listing: Sequence[str], classes_filter: Sequence[str], validation_fraction: float,
               test_fraction: float, seed: int) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """(classes, split -> [(relative path, label)]): the whole plan, a function of the listing only."""
    classes, presplit, by_class = discover(listing)
    if classes_filter:
        unknown = [c for c in classes_filter if c not in classes]
        if unknown:
            raise ValueError(f"classes {unknown} have no images (class folders with images: {classes})")
        classes = list(classes_filter)
    if not classes:
        raise ValueError("no class sub-folders with images")
    index = {name: i for i, name in enumerate(classes)}
    if presplit is not None:
        splits = {split: [(p, index[c]) for p, c in items if c in index] for split, items in presplit.items()}
        if "validation" not in splits:
            train = splits.get("train", [])
            assignment = stratified_split([lab for _, lab in train], (validation_fraction, 0.0), seed)
            splits["validation"] = [item for item, a in zip(train, assignment, strict=True) if a == "validation"]
            splits["train"] = [item for item, a in zip(train, assignment, strict=True) if a == "train"]
        splits.setdefault("test", [])
        return classes, splits
    items = [(p, index[name]) for name in classes for p in by_class[name]]
    assignment = stratified_split([lab for _, lab in items], (validation_fraction, test_fraction), seed)
    return classes, {split: [item for item, a in zip(items, assignment, strict=True) if a == split]
                     for split in ("train", "validation", "test")}


def size_sample(splits: dict[str, list[tuple[str, int]]], limit: int = 2000) -> list[str]:
    """Up to ``limit`` files, evenly spaced over the plan, whose sizes pick the input size.

    Evenly spaced rather than the first ``limit``: the plan is ordered by class, and a data set of
    120 breeds would otherwise be sized by its first dozen.
    """
    every = [relative for split in ("train", "validation", "test") for relative, _ in splits.get(split, [])]
    step = max(1, -(-len(every) // limit))
    return every[::step]


def short_side(path: Path) -> int | None:
    """The short side read from the image's header (no pixels decoded); None when it does not open."""
    from PIL import Image

    from common.imaging import FORMATS

    try:
        with Image.open(path, formats=FORMATS) as image:
            return min(image.size)
    except (OSError, ValueError, SyntaxError):
        return None  # undecodable: the check reports it


def prepared_bytes(path: Path, size: int = INPUT_SIZE) -> tuple[bytes, str]:
    """(bytes to write, suffix): the fitted PNG, or the untouched bytes when the file does not decode."""
    data = path.read_bytes()
    try:
        return encode_png(to_pixels(data, size)), ".png"
    except ImageError:
        return data, path.suffix.lower() or ".bin"

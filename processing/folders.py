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

from common.imaging import INPUT_SIZE, ImageError, encode_png, fit_to_input, open_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "val": "validation",
               "test": "test"}


def is_image_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def discover(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, str]]] | None, dict[str, Path]]:
    """(classes, pre-split files or None, class folders when not pre-split)."""
    root = Path(root)
    top = _class_folders(root)
    if top and set(top) <= set(SPLIT_NAMES):
        splits: dict[str, list[tuple[Path, str]]] = {}
        for name, folder in top.items():
            for class_name, class_folder in _class_folders(folder).items():
                splits.setdefault(SPLIT_NAMES[name], []).extend((p, class_name) for p in _images(class_folder))
        classes = sorted({c for items in splits.values() for _, c in items})
        return classes, splits, {}
    return sorted(top), None, top


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


def load_items(root: Path, classes_filter: Sequence[str], validation_fraction: float, test_fraction: float,
               seed: int) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    classes, presplit, folders = discover(root)
    if classes_filter:
        unknown = [c for c in classes_filter if c not in classes]
        if unknown:
            raise ValueError(f"classes {unknown} have no folder in {root} (folders: {classes})")
        classes = list(classes_filter)
    if not classes:
        raise ValueError(f"{root}: no class sub-folders")
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
    items = [(p, index[name]) for name in classes for p in _images(folders[name])]
    assignment = stratified_split([lab for _, lab in items], (validation_fraction, test_fraction), seed)
    return classes, {split: [item for item, a in zip(items, assignment, strict=True) if a == split]
                     for split in ("train", "validation", "test")}


def short_sides(paths, limit: int = 2000) -> list[int]:
    """The short side of up to ``limit`` images, read from their headers (no pixels are decoded)."""
    from PIL import Image

    from common.imaging import FORMATS

    sides = []
    for index, path in enumerate(paths):
        if index >= limit:
            break
        try:
            with Image.open(path, formats=FORMATS) as image:
                sides.append(min(image.size))
        except (OSError, ValueError, SyntaxError):
            continue  # undecodable: the check reports it
    return sides


def prepared_bytes(path: Path, size: int = INPUT_SIZE) -> tuple[bytes, str]:
    """(bytes to write, suffix): the fitted PNG, or the untouched bytes when the file does not decode."""
    data = path.read_bytes()
    try:
        return encode_png(np.asarray(fit_to_input(open_image(data), size), dtype=np.uint8)), ".png"
    except ImageError:
        return data, path.suffix.lower() or ".bin"

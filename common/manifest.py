"""``.lst`` manifests (SageMaker image-classification format) and ``classes.json``.

A ``.lst`` line is ``index<TAB>label<TAB>relative/path.png``; the label is the
position of the class in ``classes.json``, which is the order of the model's
outputs everywhere (training, evaluation, serving, the workflow's inferences).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CLASSES_FILE = "classes.json"


class ManifestError(ValueError):
    """A manifest line or classes file is malformed; the message names file and line."""


@dataclass(frozen=True)
class LstEntry:
    index: int
    label: int
    path: str  # relative, POSIX separators


def safe_relative(path: str) -> str:
    """Refuse absolute paths and ``..`` so a manifest can never point outside its folder."""
    pure = PurePosixPath(path.replace("\\", "/"))
    if not path or pure.is_absolute() or ".." in pure.parts:
        raise ManifestError(f"unsafe path in manifest: {path!r}")
    return pure.as_posix()


def write_lst(path: Path, entries: Iterable[LstEntry]) -> int:
    lines = [f"{e.index}\t{e.label}\t{safe_relative(e.path)}\n" for e in entries]
    Path(path).write_text("".join(lines), encoding="utf-8")
    return len(lines)


def read_lst(path: Path) -> list[LstEntry]:
    entries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ManifestError(f"{path}:{number}: expected 3 tab-separated fields, got {len(fields)}")
        try:
            index, label = int(fields[0]), int(float(fields[1]))
        except ValueError as exc:
            raise ManifestError(f"{path}:{number}: index and label must be numbers ({exc})") from exc
        entries.append(LstEntry(index, label, safe_relative(fields[2])))
    return entries


def write_classes(folder: Path, classes: Sequence[str]) -> Path:
    target = Path(folder) / CLASSES_FILE
    target.write_text(json.dumps(list(classes), indent=1) + "\n", encoding="utf-8")
    return target


def read_classes(folder_or_file: Path) -> list[str]:
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / CLASSES_FILE
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} not found: every dataset folder carries its classes.json") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise ManifestError(f"{path}: expected a non-empty JSON list of class names")
    if len(set(classes)) != len(classes):
        raise ManifestError(f"{path}: class names repeat")
    return classes


def find_lst(folder: Path) -> Path:
    """The one ``*.lst`` in a dataset folder (a SageMaker channel holds exactly one)."""
    found = sorted(Path(folder).glob("*.lst"))
    if len(found) != 1:
        raise ManifestError(f"{folder}: expected exactly one .lst manifest, found {len(found)}")
    return found[0]


DATASET_FILE = "dataset.json"
#: Reviewed images sit in ``<split>/<class>/reviewed/`` (the ETL flattens every source image to
#: ``<class>/<name>``), so any later step can tell them from the source's own by path alone.
REVIEWED_FOLDER = "reviewed"


def is_reviewed(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 3 and parts[1] == REVIEWED_FOLDER


def write_dataset_info(folder: Path, image_size: int) -> Path:
    """``dataset.json`` beside a split's manifest: the side of its square images.

    The ETL decides the input size once; the check, training and (through
    ``model_info.json``) serving read it from here instead of each assuming 32.
    """
    target = Path(folder) / DATASET_FILE
    target.write_text(json.dumps({"image_size": int(image_size)}) + "\n", encoding="utf-8")
    return target


def read_image_size(folder: Path, default: int | None = None) -> int:
    """The split's image side from ``dataset.json``; ``default`` when the file is absent (older datasets)."""
    path = Path(folder) / DATASET_FILE
    if not path.exists():
        if default is None:
            raise ManifestError(f"{path} not found and no image size given")
        return default
    try:
        size = json.loads(path.read_text(encoding="utf-8"))["image_size"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: expected {{\"image_size\": N}} ({exc})") from exc
    if not isinstance(size, int) or not 8 <= size <= 1024:
        raise ManifestError(f"{path}: image_size must be an integer from 8 to 1024, got {size!r}")
    return size

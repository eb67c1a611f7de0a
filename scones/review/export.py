"""Answered images as training data: class folders the pipeline's ETL joins to the train split.

:func:`stage_answered` mirrors them into the artifact store at the pipeline's ``ReviewedDataUrl``
(``<prefix>/reviewed/``), so the next run trains on them, whatever its source (a CIFAR-100
archive or an image folder: ``processing/etl.py`` says how they join). The export manifest is
written last: in AWS a rule on its key starts one pipeline run per export.

A deterministic share of the answered items (by item id, :data:`DEFAULT_HELD_BACK`) is held back:
those stay out of training, so live accuracy measured on reviewed traffic never grades a model on
images it was trained on. ``review-export.json`` in the folder lists what was exported and what
was held back.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from common import defaults
from common.content_types import sniff
from scones.errors import SconesError
from scones.review import ANSWERED, CANT_TELL, NONE_OF_THESE, ReviewItem, ReviewQueue
from scones.review.staging import PLACEHOLDER, PLACEHOLDER_TEXT

DEFAULT_HELD_BACK = 0.2
MANIFEST = defaults.REVIEW_EXPORT_MANIFEST


def is_held_back(item_id: str, share: float) -> bool:
    """The same answer for an item on every export and every machine."""
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 2**32 < share


@dataclass
class ExportResult:
    per_class: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    exported_ids: list[str] = field(default_factory=list)
    held_back_ids: list[str] = field(default_factory=list)
    held_back_share: float = DEFAULT_HELD_BACK

    @property
    def exported(self) -> int:
        return len(self.exported_ids)

    @property
    def held_back(self) -> int:
        return len(self.held_back_ids)


def _why_not(item: ReviewItem, data: bytes | None) -> str | None:
    label = item.answer
    if label in (NONE_OF_THESE, CANT_TELL):
        return f"{item.id}: answered {label!r}, no class to learn"
    if label not in item.classes or "/" in label or label.startswith("."):
        return f"{item.id}: {label!r} is not a class folder name"
    if data is None:
        return f"{item.id}: the image {item.image} is gone from the store"
    from common.imaging import ImageError, open_image

    try:
        open_image(data)
    except ImageError as exc:
        return f"{item.id}: the image does not decode ({exc})"
    return None


def stage_answered(queue: ReviewQueue, store, uri: str, held_back: float = DEFAULT_HELD_BACK) -> ExportResult:
    """Mirror the answered images into ``uri`` (what is no longer answered leaves it); the manifest last."""
    with tempfile.TemporaryDirectory(prefix="scones-review-") as scratch:
        folder = Path(scratch)
        result = export_answered(queue, store, folder, held_back, manifest=False)
        (folder / PLACEHOLDER).write_bytes(PLACEHOLDER_TEXT)
        store.sync(folder, uri)
        store.put_bytes(f"{uri.rstrip('/')}/{MANIFEST}", _manifest(result))
    return result


def _manifest(result: ExportResult) -> bytes:
    return (json.dumps({"exported": result.exported_ids, "held_back": result.held_back_ids,
                        "held_back_share": result.held_back_share, "per_class": result.per_class,
                        "skipped": result.skipped}, indent=2) + "\n").encode()


def export_answered(queue: ReviewQueue, store, folder: Path, held_back: float = DEFAULT_HELD_BACK,
                    manifest: bool = True) -> ExportResult:
    if not 0.0 <= held_back < 1.0:
        from scones.errors import InvalidInput

        raise InvalidInput(f"--held-back must be in [0, 1), got {held_back}")
    result = ExportResult(held_back_share=held_back)
    for item in queue.items(status=ANSWERED):
        if is_held_back(item.id, held_back):
            result.held_back_ids.append(item.id)
            continue
        try:
            data = store.get_bytes(item.image)
        except SconesError:
            data = None
        problem = _why_not(item, data)
        if problem:
            result.skipped.append(problem)
            continue
        target = folder / item.answer / f"{item.id}{sniff(data)[1]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        result.per_class[item.answer] = result.per_class.get(item.answer, 0) + 1
        result.exported_ids.append(item.id)
    folder.mkdir(parents=True, exist_ok=True)
    if manifest:
        (folder / MANIFEST).write_bytes(_manifest(result))
    return result

"""Human review: a queue of images a person decides, whose answers become ground truth.

One port, chosen by URI from :mod:`scones.backends` (``SCONES_REVIEW``): ``sqlite:///path/review.db``
(the local queue, answered on the dashboard's Review page or with ``scones review answer``). Amazon
Augmented AI (A2I) is what AWS offers for the same job; its output format is the one every answer
is written in (:mod:`scones.review.output`), so one reader serves both.

An item is keyed by :func:`item_id` of the workflow execution and the image, so a retried state
adds no second item. The answer rules, the same in every backend:

- an answer is one of the item's classes, :data:`NONE_OF_THESE` or :data:`CANT_TELL`; anything
  else is refused (``InvalidInput``), as is an unknown item id (``NotFound``);
- two reviewers may answer one item: when they agree the item is ``answered`` with that label;
  when they disagree it is ``disputed`` and gives no ground truth until a further answer makes
  one label the majority. A reviewer who answers again changes their own answer (the latest
  counts: a second key press is not a second opinion). Every answer is kept, with who gave it
  and why.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scones.backends import ClientFactory, open_backend

NONE_OF_THESE = "none of these"
CANT_TELL = "can't tell"
#: Item statuses.
PENDING, ANSWERED, DISPUTED = "pending", "answered", "disputed"
#: Why an item is in the queue: the workflow sent it (low confidence or an error), or audit sampling picked it.
REVIEW, SAMPLE = "review", "sample"


def item_id(execution: str, image: str) -> str:
    """A stable id (A2I's human-loop name rules: lower case, digits, hyphens, at most 63 characters)."""
    return "r-" + hashlib.sha256(f"{execution}\0{image}".encode()).hexdigest()[:24]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class HumanAnswer:
    label: str
    reviewer: str
    reason: str
    at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class ReviewItem:
    """One image waiting for (or given) a person's answer."""

    id: str
    image: str  # s3:// URI of the image as the workflow read it
    classes: tuple[str, ...]
    probabilities: tuple[float, ...] = ()  # the model's, in ``classes`` order; empty when it gave none
    model_version: int | None = None
    reason: str = ""  # why it is here: the workflow's error name and message, or "audit sample"
    inference_id: str = ""  # the endpoint capture record it judges
    kind: str = REVIEW
    created: str = ""
    answers: tuple[HumanAnswer, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        """The model's top class ('' when it gave no probabilities)."""
        if not self.probabilities:
            return ""
        return self.classes[max(range(len(self.probabilities)), key=self.probabilities.__getitem__)]

    @property
    def confidence(self) -> float | None:
        return max(self.probabilities) if self.probabilities else None

    @property
    def answer(self) -> str | None:
        """The label the answers agree on (a strict majority), else None."""
        if not self.answers:
            return None
        latest = {a.reviewer: a.label for a in self.answers}  # answers are in order: each reviewer's last
        (top, count), *rest = Counter(latest.values()).most_common()
        return top if not rest or count > rest[0][1] else None

    @property
    def status(self) -> str:
        if not self.answers:
            return PENDING
        return ANSWERED if self.answer is not None else DISPUTED

    def stamped(self) -> ReviewItem:
        """The item with its queueing time set (now, unless it has one)."""
        return self if self.created else dataclasses.replace(self, created=now_iso())

    def top_guesses(self, k: int = 3) -> list[tuple[str, float]]:
        ranked = sorted(zip(self.classes, self.probabilities, strict=False), key=lambda pair: -pair[1])
        return ranked[:k]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "image": self.image, "label": self.label, "confidence": self.confidence,
                "status": self.status, "answer": self.answer, "kind": self.kind, "reason": self.reason,
                "model_version": self.model_version, "inference_id": self.inference_id, "created": self.created,
                "classes": list(self.classes), "probabilities": list(self.probabilities),
                "answers": [a.__dict__ for a in self.answers]}


def check_answer(item: ReviewItem, label: str) -> str:
    """The answer as stored, or InvalidInput naming what the item accepts."""
    from scones.errors import InvalidInput

    choices = (*item.classes, NONE_OF_THESE, CANT_TELL)
    if label not in choices:
        raise InvalidInput(f"{label!r} is not an answer for {item.id}; choose one of: {', '.join(choices)}")
    return label


class ReviewQueue(abc.ABC):
    """Where review items wait, and where people's answers go."""

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> ReviewQueue:
        """The backend a URI names (:mod:`scones.backends`)."""

    @abc.abstractmethod
    def add(self, item: ReviewItem) -> ReviewItem:
        """Queue ``item``; an item with the same id already queued is returned unchanged (retries add nothing)."""

    @abc.abstractmethod
    def get(self, item_id: str) -> ReviewItem:
        """One item with its answers. Raises NotFound."""

    @abc.abstractmethod
    def items(self, status: str | None = None, limit: int | None = None) -> list[ReviewItem]:
        """Items, oldest first; only those with ``status`` when given."""

    @abc.abstractmethod
    def _add_answer(self, item: ReviewItem, answer: HumanAnswer) -> ReviewItem:
        """Persist one more answer to ``item``; return the item as it now stands."""

    def next_pending(self, after: str | None = None) -> ReviewItem | None:
        """The oldest pending item (after ``after``, wrapping round: a skipped item comes back last)."""
        pending = self.items(status=PENDING)
        ids = [item.id for item in pending]
        start = ids.index(after) + 1 if after in ids else 0
        ordered = pending[start:] + pending[:start]
        return ordered[0] if ordered else None

    def counts(self) -> dict[str, int]:
        """How many items are pending, answered and disputed."""
        return counts(self.items())

    def recent(self, limit: int = 10) -> list[ReviewItem]:
        """The items answered last, newest first."""
        answered = [item for item in self.items() if item.answers]
        return sorted(answered, key=lambda item: item.answers[-1].at, reverse=True)[:limit]

    def with_class_answers(self) -> list[str]:
        """Ids of the answered items whose agreed answer is a class (what can become training data), oldest first."""
        return [item.id for item in self.items(status=ANSWERED) if item.answer in item.classes]

    def answer(self, item_id: str, label: str, reviewer: str, reason: str = "") -> ReviewItem:
        """Record a person's answer (see the module docstring for the rules)."""
        item = self.get(item_id)
        return self._add_answer(item, HumanAnswer(check_answer(item, label), reviewer, reason.strip(), now_iso()))


def open_review_queue(uri: str, clients: ClientFactory | None = None, **kwargs: Any) -> ReviewQueue:
    """``sqlite:///path/review.db`` -> the local queue."""
    return open_backend("review", uri, clients, **kwargs)


def counts(items: Sequence[ReviewItem]) -> dict[str, int]:
    found = Counter(item.status for item in items)
    return {status: found.get(status, 0) for status in (PENDING, ANSWERED, DISPUTED)}

"""The local review queue: SQLite (WAL, one transaction per change, so a kill -9 loses nothing committed).

Each answer is also written, in A2I's output format, into the artifact store under the review
prefix (:mod:`scones.review.output`), where ground truth is read from -- as A2I writes to S3.
The database is the record: ``written`` counts the answers the store's document holds, so a
process killed between the commit and the store write leaves a gap the next queue opened on the
file fills (:meth:`SqliteReviewQueue.write_missing_outputs`), and no answer is lost to ground truth.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from scones.errors import NotFound
from scones.localdb import create, transaction
from scones.review import CANT_TELL, NONE_OF_THESE, HumanAnswer, ReviewItem, ReviewQueue

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    answers INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    answered_at TEXT NOT NULL DEFAULT '',
    written INTEGER NOT NULL DEFAULT 0,  -- answers the store's output document holds
    answer TEXT NOT NULL DEFAULT ''  -- the agreed answer ('' while pending or disputed)
);
CREATE INDEX IF NOT EXISTS items_by_status ON items(status, seq);
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT NOT NULL REFERENCES items(id),
    label TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_item ON answers(item_id);
"""


class SqliteReviewQueue(ReviewQueue):
    def __init__(self, path: Path, store=None, output_prefix: str = ""):
        self.path = Path(path)
        self.store, self.output_prefix = store, output_prefix
        create(self.path, SCHEMA)
        self._migrate()
        self.write_missing_outputs()

    def _migrate(self) -> None:
        """A queue made before ``written`` and ``answer`` existed wrote each output as it committed: count them
        written; and give each item its agreed answer."""
        def current(db) -> bool:
            return {"written", "answer"} <= {row["name"] for row in db.execute("PRAGMA table_info(items)")}

        with self._connect() as db:
            if current(db):
                return
        with self._connect(immediate=True) as db:  # checked again under the write lock: one process migrates
            if not current(db):
                db.execute("ALTER TABLE items ADD COLUMN written INTEGER NOT NULL DEFAULT 0")
                db.execute("ALTER TABLE items ADD COLUMN answer TEXT NOT NULL DEFAULT ''")
                db.execute("UPDATE items SET written = answers")
                answers = _answers_by_item(db)
                for row in db.execute("SELECT id, body FROM items WHERE answers > 0").fetchall():
                    db.execute("UPDATE items SET answer = ? WHERE id = ?",
                               (_item(row["body"], answers.get(row["id"], [])).answer or "", row["id"]))

    def write_missing_outputs(self) -> int:
        """Write the output document of every item with answers the store does not hold yet; how many."""
        if self.store is None or not self.output_prefix:
            return 0
        with self._connect() as db:
            late = [row["id"] for row in db.execute("SELECT id FROM items WHERE answers > written")]
        for item_id in late:
            self._write_output(self.get(item_id))
        return len(late)

    def _write_output(self, item: ReviewItem) -> None:
        from scones.review.output import output_document, output_uri

        self.store.put_bytes(output_uri(self.output_prefix, item), json.dumps(output_document(item), indent=1).encode())
        with self._connect(immediate=True) as db:
            db.execute("UPDATE items SET written = MAX(written, ?) WHERE id = ?", (len(item.answers), item.id))

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> SqliteReviewQueue:
        """``sqlite:///path/review.db``; ``store`` and ``output_prefix`` say where answers are written."""
        return cls(Path(uri[len("sqlite://"):]), **kwargs)

    def _connect(self, immediate: bool = False):
        return transaction(self.path, immediate)

    def add(self, item: ReviewItem) -> ReviewItem:
        stored = item.stamped()
        body = {k: v for k, v in stored.to_dict().items() if k in _STORED}
        with self._connect(immediate=True) as db:
            db.execute("INSERT OR IGNORE INTO items (id, body) VALUES (?, ?)", (item.id, json.dumps(body)))
        return self.get(item.id)

    def get(self, item_id: str) -> ReviewItem:
        with self._connect() as db:
            row = db.execute("SELECT body FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise NotFound(f"no review item {item_id!r} (`scones review list` shows the queue)")
            answers = _item_answers(db, item_id)
        return _item(row["body"], answers)

    def items(self, status: str | None = None, limit: int | None = None) -> list[ReviewItem]:
        with self._connect() as db:
            rows = db.execute("SELECT id, body FROM items ORDER BY seq").fetchall()
            answers = _answers_by_item(db)
        found = []
        for row in rows:
            item = _item(row["body"], answers.get(row["id"], []))
            if status is None or item.status == status:
                found.append(item)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def _add_answer(self, item: ReviewItem, answer: HumanAnswer) -> ReviewItem:
        with self._connect(immediate=True) as db:
            # the status comes from the answers as committed, under the write lock: two answers sent at
            # once (a double key press, two reviewers) must not both be judged against the same old state
            after = dataclasses.replace(item, answers=(*_answers(_item_answers(db, item.id)), answer))
            db.execute("INSERT INTO answers (item_id, label, reviewer, reason, at) VALUES (?, ?, ?, ?, ?)",
                       (item.id, answer.label, answer.reviewer, answer.reason, answer.at))
            db.execute("UPDATE items SET answers = answers + 1, status = ?, answer = ?, answered_at = ? WHERE id = ?",
                       (after.status, after.answer or "", answer.at, item.id))
        updated = self.get(item.id)
        if self.store is not None and self.output_prefix:
            self._write_output(updated)
        return updated


    # the page's reads, in SQL: a long queue costs the rows shown, not the whole table -------------------

    def next_pending(self, after: str | None = None) -> ReviewItem | None:
        with self._connect() as db:
            row = None
            if after:
                row = db.execute("SELECT id FROM items WHERE status = 'pending' AND seq > "
                                 "COALESCE((SELECT seq FROM items WHERE id = ?), 0) ORDER BY seq LIMIT 1",
                                 (after,)).fetchone()
            row = row or db.execute("SELECT id FROM items WHERE status = 'pending' ORDER BY seq LIMIT 1").fetchone()
        return self.get(row["id"]) if row else None

    def with_class_answers(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT id FROM items WHERE status = 'answered' AND answer NOT IN (?, ?) ORDER BY seq",
                              (NONE_OF_THESE, CANT_TELL)).fetchall()
        return [row["id"] for row in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            found = dict(db.execute("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())
        return {status: found.get(status, 0) for status in ("pending", "answered", "disputed")}

    def recent(self, limit: int = 10) -> list[ReviewItem]:
        with self._connect() as db:
            rows = db.execute("SELECT id FROM items WHERE answers > 0 ORDER BY answered_at DESC, seq DESC LIMIT ?",
                              (limit,)).fetchall()
        return [self.get(row["id"]) for row in rows]


_STORED = ("id", "image", "classes", "probabilities", "model_version", "reason", "inference_id", "kind", "created")


def _item(body: str, answers) -> ReviewItem:
    data = json.loads(body)
    return ReviewItem(id=data["id"], image=data["image"], classes=tuple(data["classes"]),
                      probabilities=tuple(data["probabilities"]), model_version=data.get("model_version"),
                      reason=data.get("reason", ""), inference_id=data.get("inference_id", ""),
                      kind=data.get("kind", "review"), created=data.get("created", ""),
                      answers=_answers(answers))


def _answers(rows) -> tuple[HumanAnswer, ...]:
    return tuple(HumanAnswer(a["label"], a["reviewer"], a["reason"], a["at"]) for a in rows)


def _item_answers(db, item_id: str) -> list:
    return db.execute("SELECT label, reviewer, reason, at FROM answers WHERE item_id = ? ORDER BY rowid",
                      (item_id,)).fetchall()


def _answers_by_item(db) -> dict[str, list]:
    """Every answer row, grouped by item, in the order given."""
    grouped: dict[str, list] = {}
    for row in db.execute("SELECT item_id, label, reviewer, reason, at FROM answers ORDER BY rowid"):
        grouped.setdefault(row["item_id"], []).append(row)
    return grouped

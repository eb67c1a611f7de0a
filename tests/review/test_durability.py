"""The local review queue under kill -9: nothing committed is lost, and an answer committed just before the
kill still becomes ground truth (the next queue opened on the file writes the missing output document)."""

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from scones.review import ANSWERED
from scones.review.output import read_answers
from scones.store import open_store

PREFIX = "s3://scones-local/scones/review"

OPEN = """
import os, signal, sys
from scones.review import ReviewItem, item_id, open_review_queue
from scones.store import open_store
store = open_store(sys.argv[2])
queue = open_review_queue(f"sqlite:///{sys.argv[1]}", store=store, output_prefix=sys.argv[3])
def item(n):
    return ReviewItem(id=item_id("exec", f"k{n}.png"), image=f"s3://b/k{n}.png", classes=("bicycle", "motorcycle"),
                      probabilities=(0.6, 0.4), model_version=1, reason="LowConfidenceError", inference_id=f"i{n}")
"""


def _run(tmp_path, body: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(OPEN + textwrap.dedent(body))
    argv = [sys.executable, str(script), str(tmp_path / "review.db"), f"file://{tmp_path}/store", PREFIX]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def test_a_kill_between_the_commit_and_the_output_loses_no_ground_truth(tmp_path):
    child = _run(tmp_path, """
        added = queue.add(item(1))
        store.put_bytes = lambda uri, data: os.kill(os.getpid(), signal.SIGKILL)  # dies at the worst moment
        queue.answer(added.id, "motorcycle", "ana")
    """)
    assert child.wait(timeout=60) == -signal.SIGKILL
    store = open_store(f"file://{tmp_path}/store")
    assert read_answers(store, PREFIX) == ([], []), "the kill came before the output was written"
    from scones.review import open_review_queue

    queue = open_review_queue(f"sqlite:///{tmp_path / 'review.db'}", store=store, output_prefix=PREFIX)
    [truth], problems = read_answers(store, PREFIX)
    assert problems == [] and (truth.inference_id, truth.label) == ("i1", "motorcycle")
    assert queue.write_missing_outputs() == 0, "written once"


def test_kill_9_under_load_keeps_every_answer_it_confirmed(tmp_path):
    child = _run(tmp_path, """
        n = 0
        while True:
            added = queue.add(item(n))
            queue.answer(added.id, ("bicycle", "motorcycle")[n % 2], "ana")
            print(added.id, flush=True)
            n += 1
    """)
    confirmed = []
    deadline = time.monotonic() + 60
    while len(confirmed) < 40 and time.monotonic() < deadline:
        confirmed.append(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert len(confirmed) == 40
    db = sqlite3.connect(tmp_path / "review.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    from scones.review import open_review_queue

    store = open_store(f"file://{tmp_path}/store")
    queue = open_review_queue(f"sqlite:///{tmp_path / 'review.db'}", store=store, output_prefix=PREFIX)
    answered = {item.id for item in queue.items(status=ANSWERED)}
    assert set(confirmed) <= answered
    truths, problems = read_answers(store, PREFIX)
    assert problems == [] and set(confirmed) <= {t.item_id for t in truths}
    assert {t.item_id for t in truths} == answered, "every committed answer is ground truth, none twice"


def test_a_queue_made_before_the_written_count_opens_and_rewrites_nothing(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
                            answers INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'pending',
                            answered_at TEXT NOT NULL DEFAULT '');
        CREATE TABLE answers (item_id TEXT NOT NULL, label TEXT NOT NULL, reviewer TEXT NOT NULL,
                              reason TEXT NOT NULL DEFAULT '', at TEXT NOT NULL);
    """)
    body = ('{"id": "r-old", "image": "s3://b/x.png", "classes": ["bicycle", "motorcycle"], '
            '"probabilities": [0.6, 0.4], "created": "2026-11-01T00:00:00.000000Z"}')
    db.execute("INSERT INTO items (id, body, answers, status) VALUES ('r-old', ?, 1, 'answered')", (body,))
    db.execute("INSERT INTO answers VALUES ('r-old', 'bicycle', 'ana', '', '2026-11-01T00:00:01Z')")
    db.commit()
    db.close()
    from scones.review import open_review_queue

    store = open_store(f"file://{tmp_path}/store")
    queue = open_review_queue(f"sqlite:///{path}", store=store, output_prefix=PREFIX)
    assert queue.get("r-old").answer == "bicycle" and queue.with_class_answers() == ["r-old"]
    assert store.list(PREFIX) == [], "its outputs were written when it answered: nothing is written again"

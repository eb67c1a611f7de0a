"""The review queue's contract (local backend), the answer rules, and answers as A2I output documents."""

import json

import pytest

from scones.errors import InvalidInput, NotFound
from scones.review import (
    ANSWERED,
    CANT_TELL,
    DISPUTED,
    NONE_OF_THESE,
    PENDING,
    ReviewItem,
    item_id,
    open_review_queue,
)
from scones.review.output import read_answers
from scones.store import open_store

CLASSES = ("bicycle", "motorcycle")
PREFIX = "s3://scones-local/scones/review"


@pytest.fixture
def store(tmp_path):
    return open_store(f"file://{tmp_path}/store")


@pytest.fixture
def queue(tmp_path, store):
    return open_review_queue(f"sqlite:///{tmp_path}/review.db", store=store, output_prefix=PREFIX)


def _item(n: int, probabilities=(0.6, 0.4), **kwargs) -> ReviewItem:
    return ReviewItem(id=item_id("arn:aws:states:local:0:execution:m:e1", f"k{n}.png"),
                      image=f"s3://scones-workflow-local/k{n}.png", classes=CLASSES, probabilities=probabilities,
                      model_version=1, reason="LowConfidenceError: below 0.93", inference_id=f"inf-{n}", **kwargs)


def test_items_wait_oldest_first_and_a_retried_state_adds_no_second_item(queue):
    first, second = queue.add(_item(1)), queue.add(_item(2))
    assert queue.add(_item(1)).created == first.created
    assert [i.id for i in queue.items()] == [first.id, second.id]
    assert first.status == PENDING and first.label == "bicycle" and first.confidence == 0.6
    assert item_id("e", "a.png") == item_id("e", "a.png") != item_id("e2", "a.png")
    assert len(item_id("e", "a.png")) <= 63 and item_id("e", "a.png").replace("-", "").isalnum()


def test_an_answer_becomes_ground_truth_in_a2i_output_format(queue, store):
    item = queue.add(_item(1))
    answered = queue.answer(item.id, "motorcycle", "ana@127.0.0.1", "the engine is visible")
    assert (answered.status, answered.answer) == (ANSWERED, "motorcycle")
    [(uri, _)] = store.list(PREFIX)
    document = json.loads(store.get_bytes(uri))
    assert uri.endswith(f"/scones-review/{item.created[:4]}/{item.created[5:7]}/{item.created[8:10]}/"
                        f"{item.created[11:13]}/{item.created[14:16]}/{item.created[17:19]}/{item.id}/output.json")
    assert document["humanLoopName"] == item.id
    assert document["humanAnswers"][0]["answerContent"] == {"label": {"label": "motorcycle"}}
    assert document["humanAnswers"][0]["workerId"] == "ana@127.0.0.1"
    [truth], problems = read_answers(store, PREFIX)
    assert problems == []
    assert (truth.inference_id, truth.model_version, truth.model_label, truth.label) == (
        "inf-1", 1, "bicycle", "motorcycle")


def test_two_reviewers_who_disagree_give_no_ground_truth_until_a_majority(queue, store):
    item = queue.add(_item(1))
    queue.answer(item.id, "bicycle", "ana")
    assert queue.answer(item.id, "motorcycle", "ben").status == DISPUTED
    [truth], _ = read_answers(store, PREFIX)
    assert truth.label is None and truth.answers == 2
    settled = queue.answer(item.id, "motorcycle", "cy")
    assert (settled.status, settled.answer, len(settled.answers)) == (ANSWERED, "motorcycle", 3)
    assert [i.id for i in queue.items(status=ANSWERED)] == [item.id]


def test_a_reviewer_who_answers_again_changes_their_answer_not_the_count(queue):
    item = queue.add(_item(1))
    queue.answer(item.id, "bicycle", "ana")
    again = queue.answer(item.id, "motorcycle", "ana")  # a second key press, or a change of mind
    assert (again.status, again.answer, len(again.answers)) == (ANSWERED, "motorcycle", 2), "both kept, latest counts"
    assert queue.counts()["answered"] == 1 and queue.with_class_answers() == [item.id]
    assert queue.answer(item.id, "bicycle", "ben").status == DISPUTED


def test_two_answers_sent_at_once_are_judged_on_what_was_committed(queue):
    """The race of two POSTs: each handler read the item before the other's answer was committed."""
    from scones.review import HumanAnswer

    item = queue.add(_item(1))
    stale = queue.get(item.id)  # what the second request read: no answers yet
    queue.answer(item.id, "bicycle", "ana")
    after = queue._add_answer(stale, HumanAnswer("motorcycle", "ben", "", "2026-12-02T00:00:00Z"))
    assert after.status == DISPUTED and len(after.answers) == 2
    assert queue.counts() == {"pending": 0, "answered": 0, "disputed": 1}, "the status column agrees with the answers"


def test_unknown_labels_and_ids_are_refused_by_name(queue):
    item = queue.add(_item(1))
    with pytest.raises(InvalidInput, match="'car' is not an answer .* bicycle, motorcycle, none of these, can't tell"):
        queue.answer(item.id, "car", "ana")
    with pytest.raises(NotFound, match="no review item 'r-nope'"):
        queue.answer("r-nope", "bicycle", "ana")
    assert queue.answer(item.id, NONE_OF_THESE, "ana").answer == NONE_OF_THESE
    assert queue.answer(queue.add(_item(2)).id, CANT_TELL, "ana").answer == CANT_TELL
    assert queue.get(item.id).status == ANSWERED


def test_an_item_without_probabilities_is_reviewable(queue):
    """An image the endpoint refused (truncated upload) has no model answer, but a person can still say what it is."""
    item = queue.add(_item(3, probabilities=(), ))
    assert (item.label, item.confidence, item.top_guesses()) == ("", None, [])
    assert queue.answer(item.id, "bicycle", "ana").answer == "bicycle"


def test_a_garbage_output_document_is_reported_not_fatal(queue, store):
    queue.answer(queue.add(_item(1)).id, "bicycle", "ana")
    store.put_bytes(f"{PREFIX}/scones-review/2026/01/01/00/00/00/r-bad/output.json", b"{not json")
    truths, problems = read_answers(store, PREFIX)
    assert len(truths) == 1 and len(problems) == 1 and "not an A2I output document" in problems[0]


def test_the_queue_survives_a_new_process(tmp_path, store):
    uri = f"sqlite:///{tmp_path}/review.db"
    first = open_review_queue(uri, store=store, output_prefix=PREFIX)
    item = first.add(_item(1))
    first.answer(item.id, "bicycle", "ana")
    again = open_review_queue(uri, store=store, output_prefix=PREFIX)
    assert again.get(item.id).answer == "bicycle" and len(again.items()) == 1


def test_the_pages_reads_in_sql_agree_with_the_interfaces_own(queue):
    """next_pending/counts/recent are SQL in the local backend; the port's generic versions are the spec."""
    from scones.review import ReviewQueue

    items = [queue.add(_item(n)) for n in range(5)]
    queue.answer(items[1].id, "bicycle", "ana")
    queue.answer(items[3].id, "bicycle", "ana")
    queue.answer(items[3].id, "motorcycle", "ben")
    queue.answer(items[4].id, "none of these", "ana")
    for after in (None, items[0].id, items[2].id, items[4].id, "r-unknown"):
        assert queue.next_pending(after) == ReviewQueue.next_pending(queue, after), after
    assert queue.counts() == ReviewQueue.counts(queue) == {"pending": 2, "answered": 2, "disputed": 1}
    assert [i.id for i in queue.recent()] == [i.id for i in ReviewQueue.recent(queue)] == [
        items[4].id, items[3].id, items[1].id]
    queue.answer(items[3].id, "bicycle", "cy")  # settles the dispute
    assert queue.with_class_answers() == ReviewQueue.with_class_answers(queue) == [items[1].id, items[3].id]


def test_staging_into_s3_mirrors_the_answers_and_writes_the_manifest(queue):
    """In AWS the export goes to the stack's bucket (moto's S3 here); what is no longer answered leaves it."""
    import boto3
    from moto import mock_aws

    from scones.review.export import stage_answered
    from tests import support

    first, second = queue.add(_item(1)), queue.add(_item(2))
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("stack-bucket", "scones-workflow-local"):
            client.create_bucket(Bucket=bucket)
        s3 = open_store("s3://", lambda service, region=None: client)
        for n, item in enumerate((first, second)):
            s3.put_bytes(item.image, support.random_png(seed=n))
            queue.answer(item.id, "motorcycle", "ana")
        result = stage_answered(queue, s3, "s3://stack-bucket/scones/reviewed", held_back=0.0)
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="stack-bucket")["Contents"])
        assert result.exported == 2 and keys == sorted(
            [f"scones/reviewed/motorcycle/{first.id}.png", f"scones/reviewed/motorcycle/{second.id}.png",
             "scones/reviewed/README.txt", "scones/reviewed/review-export.json"])
        queue.answer(second.id, "bicycle", "ben")  # now disputed: no longer training data
        stage_answered(queue, s3, "s3://stack-bucket/scones/reviewed", held_back=0.0)
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="stack-bucket")["Contents"]}
        assert f"scones/reviewed/motorcycle/{second.id}.png" not in keys
        manifest = json.loads(client.get_object(Bucket="stack-bucket", Key="scones/reviewed/review-export.json")
                              ["Body"].read())
        assert manifest["exported"] == [first.id]

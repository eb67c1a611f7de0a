"""The Review page through Flask's test client: the oldest item first, answers by form, refusals, broken images.
(Chromium drives the keys in tests/ui/test_dashboard.py.)"""

import re

import pytest

from scones.review import ReviewItem, item_id
from scones.ui.app import create_app
from scones.ui.guard import Guard
from tests import support

ORIGIN = "http://127.0.0.1:8090"


@pytest.fixture
def queued(workspace):
    store, queue = workspace.store(), workspace.review_queue()
    items = []
    for n, data in enumerate((support.random_png(seed=1), b"not an image at all", None)):
        uri = f"s3://scones-workflow-local/inputs/run/{n:05d}.png"
        if data is not None:
            store.put_bytes(uri, data)
        items.append(queue.add(ReviewItem(id=item_id("exec", uri), image=uri, classes=("bicycle", "motorcycle"),
                                          probabilities=(0.55, 0.45), model_version=1, reason="LowConfidenceError")))
    client = create_app(workspace, guard=Guard.for_binding()).test_client()
    return workspace, items, client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_oldest_item_shows_with_its_guesses_and_one_key_per_answer(queued):
    _, items, client = queued
    html = client.get("/review", base_url=ORIGIN).get_data(as_text=True)
    assert f'data-id="{items[0].id}"' in html and f"/review/{items[0].id}/image" in html
    assert re.search(r"3 waiting, 0 answered,\s+0 disputed", html)
    for key, label in (("1", "bicycle"), ("2", "motorcycle"), ("0", "none of these"), ("?", "can&#39;t tell")):
        assert re.search(rf'value="{label}">\s*<button class="answer" data-key="{re.escape(key)}"', html), label
    image = client.get(f"/review/{items[0].id}/image", base_url=ORIGIN)
    assert image.status_code == 200 and image.mimetype == "image/png"


def test_an_answer_by_form_records_who_and_moves_on_and_a_cross_site_post_changes_nothing(queued):
    settings, items, client = queued
    token = _csrf(client.get("/review", base_url=ORIGIN).get_data(as_text=True))
    refused = client.post(f"/review/{items[0].id}", base_url=ORIGIN, data={"csrf_token": token, "label": "bicycle"},
                          headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and settings.review_queue().get(items[0].id).answers == ()
    assert client.post(f"/review/{items[0].id}", base_url=ORIGIN, data={"label": "bicycle"}).status_code == 403
    done = client.post(f"/review/{items[0].id}", base_url=ORIGIN, data={"csrf_token": token, "label": "motorcycle"},
                       follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "ground truth &#39;motorcycle&#39;" in page and f'data-id="{items[1].id}"' in page
    [answer] = settings.review_queue().get(items[0].id).answers
    assert answer.label == "motorcycle" and answer.reviewer.endswith("(dashboard)")
    bad = client.post(f"/review/{items[1].id}", base_url=ORIGIN, data={"csrf_token": token, "label": "car"},
                      follow_redirects=True)
    assert "&#39;car&#39; is not an answer" in bad.get_data(as_text=True)


def test_a_garbage_or_deleted_image_gets_a_reason_not_a_500(queued):
    _, items, client = queued
    garbage = client.get(f"/review?after={items[0].id}", base_url=ORIGIN).get_data(as_text=True)
    assert f'data-id="{items[1].id}"' in garbage and "the image does not decode" in garbage
    gone = client.get(f"/review?after={items[1].id}", base_url=ORIGIN).get_data(as_text=True)
    assert f'data-id="{items[2].id}"' in gone and "the image is gone from the store" in gone
    assert client.get(f"/review/{items[2].id}/image", base_url=ORIGIN).status_code == 404
    assert client.get("/review/r-unknown/image", base_url=ORIGIN).status_code == 404


def test_retrain_stages_the_answered_images_and_starts_the_run_again(queued, monkeypatch):
    """The button: answered images staged at ReviewedDataUrl, and the pipeline started (the launch is caught)."""
    import urllib.parse

    from scones.engine import launcher
    from scones.review.export import is_held_back

    settings, items, client = queued
    queue = settings.review_queue()
    queue.answer(items[0].id, "motorcycle", "ana")
    queue.answer(items[1].id, "bicycle", "ana")  # its bytes are not an image: not exportable
    expected = sum(not is_held_back(i.id, 0.2) for i in items[:2])
    html = client.get("/review", base_url=ORIGIN).get_data(as_text=True)
    assert f"Retrain with {expected} reviewed images" in html
    started = []
    monkeypatch.setattr(launcher, "launch", lambda s, parameters: started.append(parameters) or launcher.Launch(
        "SconesPipeline", "e123", settings.workspace.runs))
    token = _csrf(html)
    refused = client.post("/review/retrain", base_url=ORIGIN, data={"csrf_token": token},
                          headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and started == [] and not settings.store().list(settings.reviewed_data)
    done = client.post("/review/retrain", base_url=ORIGIN, data={"csrf_token": token})
    assert done.status_code == 302 and started == [{}], done.headers["Location"]
    message = urllib.parse.unquote_plus(done.headers["Location"])
    assert "/runs/e123" in message and "started the default run again as e123" in message
    if not is_held_back(items[1].id, 0.2):
        assert "1 not staged: the image does not decode" in message
    staged = {uri.rsplit("/", 2)[-2] + "/" + uri.rsplit("/", 1)[-1] for uri, _ in settings.store().list(
        settings.reviewed_data)}
    trained = {f"motorcycle/{items[0].id}.png"} if not is_held_back(items[0].id, 0.2) else set()
    assert staged == trained | {"reviewed/README.txt", "reviewed/review-export.json"}


def test_the_live_accuracy_page_shows_each_version_over_time_with_its_interval_confusion_and_calibration(queued):
    settings, items, client = queued
    assert "No answers yet" in client.get("/review/quality", base_url=ORIGIN).get_data(as_text=True)
    queue = settings.review_queue()
    queue.answer(items[0].id, "bicycle", "ana")  # the model said bicycle (0.55): right
    queue.answer(items[1].id, "motorcycle", "ana")  # wrong
    queue.answer(items[2].id, "none of these", "ana")  # grades nothing
    page = client.get("/review/quality", base_url=ORIGIN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    section = html[html.index('data-version="1"'):]
    assert re.search(r'class="live-accuracy">0\.500</b>\s+\(95 % CI 0\.095-0\.905\) from 2 graded answers', section)
    assert "reviewed only" in section and "1 answers grade nothing" in section
    for pair in ("bicycle -&gt; bicycle", "motorcycle -&gt; bicycle"):
        assert f"<td>{pair}</td><td>1</td>" in section, pair
    assert re.search(r'<tr><td>\d{4}-\d\d-\d\d</td><td>2</td>\s*<td>0\.500</td>', section), "one row per day"
    assert 'data-title="Live accuracy per day"' in html and 'data-title="Reliability' in html

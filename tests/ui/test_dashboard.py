"""The dashboard in real headless Chromium (Debian's package, driven by Playwright)."""

import dataclasses
import os
import threading

import numpy as np
import pytest

from common.imaging import encode_png
from processing.synth import draw_image


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_archive):
    """A workspace with one pipeline run (v1 pending), the endpoint and the dashboard serving it."""
    from werkzeug.serving import make_server

    from scones.engine.local_run import run_local_pipeline
    from scones.engine.progress import QuietReporter
    from scones.serving.run import build_server
    from scones.settings import Settings
    from scones.ui.app import create_app

    home = tmp_path_factory.mktemp("ui-home")
    previous = os.environ.get("SCONES_HOME")
    os.environ["SCONES_HOME"] = str(home)
    settings = Settings.from_env()
    record = run_local_pipeline(settings.store(), settings.registry(), settings.workspace.runs, home / "scratch",
                                parameters={"Epochs": 4, "BatchSize": 16}, input_path=tiny_archive,
                                reporter=QuietReporter())
    assert record.status == "Succeeded", record.failure_reason
    endpoint, watcher = build_server(settings, "scones-endpoint", port=0, log=lambda line: None)
    # the watcher is not started: the test applies registry events itself (watcher.poll_once), so the page's
    # "deploying" state is seen for certain before the endpoint confirms the new version
    threading.Thread(target=endpoint.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    dashboard = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=dashboard.serve_forever, daemon=True).start()
    yield Site(f"http://127.0.0.1:{dashboard.server_port}", record, home, watcher, settings)
    dashboard.shutdown()
    endpoint.shutdown()
    endpoint.server_close()
    endpoint.capture.close()
    if previous is None:
        os.environ.pop("SCONES_HOME", None)
    else:
        os.environ["SCONES_HOME"] = previous


@dataclasses.dataclass
class Site:
    url: str
    record: object
    home: object
    watcher: object
    settings: object


def _until(page, check, url=None, seconds=120.0):
    """Reload (or let the page's own refresh run) until ``check(page)`` holds."""
    import time

    deadline = time.monotonic() + seconds
    while not check(page):
        assert time.monotonic() < deadline, f"timed out on {page.url}"
        page.wait_for_timeout(250)
        page.goto(url or page.url)
    return page


def _marker(page, version):
    cell = page.query_selector(f"#version-{version} [data-marker]")
    return cell.get_attribute("data-marker") if cell else ""


def _decide(page, site, version, button, reason):
    page.goto(f"{site.url}/versions/{version}")
    page.click(f"#{button}")  # no reason: the browser's own validation keeps the form from going
    assert page.url.endswith(f"/versions/{version}") and not page.query_selector("#flash")
    page.fill(f"#reason-{button}", reason)
    page.click(f"#{button}")
    page.wait_for_selector("#flash")
    return page.inner_text("#flash")


def test_approver_decides_from_the_version_page_and_sees_deploying_then_live(browser, site):
    page = browser.new_page()
    page.goto(site.url)
    assert page.inner_text("#version-1 td:nth-child(2)") == "PendingManualApproval"
    page.click("#review-1")
    for section in ("#metrics", "#per-class", "#confusion", "#calibration", "#training", "#data", "#mistakes",
                    "#history"):
        assert page.query_selector(section), section
    assert page.query_selector("[data-metric='accuracy']")
    assert page.query_selector_all("#per-class tr[data-class]") and page.query_selector("table.confusion")
    assert page.query_selector("#calibration svg[data-title^='Reliability'] polyline")
    assert page.query_selector("#training svg[data-title='Validation accuracy'] polyline")
    assert len(page.inner_text("#data code.digest")) == 16
    assert [r.inner_text() for r in page.query_selector_all(".history-row td:nth-child(2)")] == [
        "PendingManualApproval"]

    flash = _decide(page, site, 1, "approve", "first model, beats chance")
    assert flash == "v1 is now Approved: deploying now"
    assert page.query_selector("#deploying") and page.query_selector("[data-marker='deploying']")
    site.watcher.poll_once()  # the endpoint applies the approval event
    _until(page, lambda p: p.query_selector("[data-marker='live']") is not None)
    assert not page.query_selector("#deploying")
    page.goto(site.url)
    assert page.inner_text("#live-version") == "v1" and _marker(page, 1) == "live"
    history = page.goto(f"{site.url}/versions/1") and page.query_selector_all(".history-row")
    assert [r.query_selector("td:nth-child(2)").inner_text() for r in history] == [
        "PendingManualApproval", "Approved"]
    assert "first model, beats chance [by " in history[-1].inner_text()
    page.close()


def test_a_run_started_from_the_dashboard_then_compared_approved_and_rolled_back(browser, site):
    page = browser.new_page()
    if not site.settings.registry().latest_approved(site.settings.model_group):  # run alone: approve v1 first
        site.settings.registry().approve(site.settings.model_group, 1, "setup")
        site.watcher.poll_once()
    page.goto(site.url)
    assert page.input_value("#param-Epochs") != "", "the definition's defaults are filled in"
    page.fill("#param-Epochs", "3")
    page.fill("#param-InputDataUrl", site.record.parameters["InputDataUrl"])
    page.click("#start-run")
    page.wait_for_selector("#run-status")
    execution = page.url.rsplit("/", 1)[-1].split("?")[0]
    page.goto(site.url)
    running = page.query_selector("#run-in-progress")
    if running:  # one run at a time: while it runs the form is gone
        assert execution in running.inner_text()
    page.goto(f"{site.url}/runs/{execution}")
    _until(page, lambda p: p.inner_text("#run-status") != "Executing", seconds=240)
    assert page.inner_text("#run-status") == "Succeeded", page.content()[-3000:]
    links = {a.inner_text(): a.get_attribute("href") for a in page.query_selector_all("a.artifact")}
    assert {"evaluation report", "quarantine report", "model artifact", "training curves"} <= set(links)
    assert page.query_selector("details.log[data-step='TrainModel'] pre"), "succeeded steps show their log"
    report = page.request.get(site.url + links["evaluation report"]).json()
    assert "multiclass_classification_metrics" in report
    curves = page.request.get(site.url + links["training curves"])
    assert curves.headers["content-type"] == "image/png" and curves.body()[:8] == b"\x89PNG\r\n\x1a\n"

    page.goto(f"{site.url}/versions/2")
    assert "v1" in page.inner_text("#compared-with")
    assert page.query_selector_all("table.confusion") and len(page.query_selector_all("table.confusion")) == 2
    assert page.inner_text("#same-data") == "Same training data as the live version (same digest)."
    assert len(page.query_selector_all("#calibration polyline")) == 2
    assert _decide(page, site, 2, "approve", "more data, same accuracy") == "v2 is now Approved: deploying now"
    site.watcher.poll_once()
    _until(page, lambda p: p.query_selector("[data-marker='live']") is not None)
    page.goto(site.url)
    assert (_marker(page, 2), _marker(page, 1)) == ("live", "")

    assert _decide(page, site, 2, "reject", "misses mopeds in the holdout").startswith("v2 is now Rejected")
    page.goto(site.url)
    assert _marker(page, 1) == "deploying", "the rollback target deploys"
    site.watcher.poll_once()
    _until(page, lambda p: _marker(p, 1) == "live", url=site.url)
    page.goto(f"{site.url}/versions/2")
    assert [r.query_selector("td:nth-child(2)").inner_text() for r in page.query_selector_all(".history-row")] == [
        "PendingManualApproval", "Approved", "Rejected"]
    assert "misses mopeds in the holdout" in page.inner_text("#history")
    page.close()


def test_upload_then_drift_shows_per_version_verdicts(browser, site, tmp_path):
    import datetime as dt
    import json

    from common.capture import capture_record
    from scones.serving.run import capture_root

    registry = site.settings.registry()
    if not registry.latest_approved(site.settings.model_group):
        registry.approve(site.settings.model_group, 1, "setup")
    site.watcher.poll_once()
    page = browser.new_page()
    page.goto(site.url)
    image = tmp_path / "bicycle.png"
    image.write_bytes(encode_png(draw_image("bicycle", np.random.default_rng(7))))
    page.set_input_files("#upload", str(image))
    page.fill("input[name=threshold]", "0.5")
    page.click("#classify-button")
    page.wait_for_selector("#classify-result")
    assert page.inner_text("#result-label") in ("bicycle", "motorcycle")
    assert page.inner_text("#result-status") == "passed"

    live = page.inner_text("#live-version").lstrip("v")
    folder = capture_root(site.settings) / "scones-endpoint" / "AllTraffic" / "drifted"
    folder.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    lines = [json.dumps(capture_record("image/png", b"x", "application/json", json.dumps([0.999, 0.001]).encode(),
                                       now - dt.timedelta(seconds=i), {"modelVersion": live})) for i in range(60)]
    (folder / "traffic.jsonl").write_text("\n".join(lines) + "\n")
    page.goto(site.url)
    assert page.get_attribute(f"#drift-v{live} [data-verdict]", "data-verdict") == "drift"
    assert "chi-square" in page.inner_text(f"#drift-v{live}")
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector("#monitoring img", "img => img.complete && img.naturalWidth") > 800, \
        "the confidence plot of the captured traffic is a real image"
    page.screenshot(path=str(site.home / "dashboard.png"), full_page=True)
    page.close()


def test_a_reviewer_clears_the_queue_with_the_keyboard(browser, site):
    """Issue 22: the Review page, keys only: 2 answers the second class, s skips, 0 says "none of these"."""
    from scones.review import NONE_OF_THESE, ReviewItem, item_id
    from tests import support

    store, queue = site.settings.store(), site.settings.review_queue()
    for earlier in queue.items(status="pending"):  # an upload in an earlier test went to review: oldest first
        queue.answer(earlier.id, "can't tell", "test")
    ids = []
    for n in range(3):
        uri = f"s3://scones-workflow-local/inputs/keys/{n:05d}.png"
        store.put_bytes(uri, support.random_png(seed=10 + n))
        ids.append(queue.add(ReviewItem(id=item_id("keys", uri), image=uri, classes=("bicycle", "motorcycle"),
                                        probabilities=(0.6, 0.4), model_version=1, reason="LowConfidenceError")).id)
    page = browser.new_page()
    page.goto(f"{site.url}/review")
    assert page.get_attribute("#item", "data-id") == ids[0]
    assert page.evaluate("document.querySelector('#review-image').naturalWidth") > 0, "the image shows"
    page.keyboard.press("2")
    page.wait_for_selector("#flash")
    assert "ground truth 'motorcycle'" in page.inner_text("#flash")
    assert page.get_attribute("#item", "data-id") == ids[1]
    page.keyboard.press("s")
    page.wait_for_url(f"**after={ids[1]}")
    assert page.get_attribute("#item", "data-id") == ids[2]
    page.keyboard.press("0")
    page.wait_for_selector("#flash")
    assert [queue.get(i).answer for i in ids] == ["motorcycle", None, NONE_OF_THESE]
    assert page.get_attribute("#item", "data-id") == ids[1], "the skipped item comes round again"
    page.keyboard.press("1")
    page.keyboard.press("2")  # at once, before the page moves on: the first answer stands alone
    page.wait_for_selector("#flash")
    page.wait_for_load_state()
    assert [(a.label, a.reviewer.endswith("(dashboard)")) for a in queue.get(ids[1]).answers] == [("bicycle", True)]
    page.close()


def test_a_cross_site_page_cannot_answer_a_review_item(browser, site):
    """A page on another site that posts a form to the Review page (no token, its own Origin) changes nothing."""
    from scones.review import ReviewItem, item_id
    from tests import support

    store, queue = site.settings.store(), site.settings.review_queue()
    uri = "s3://scones-workflow-local/inputs/csrf/00000.png"
    store.put_bytes(uri, support.random_png(seed=99))
    item = queue.add(ReviewItem(id=item_id("csrf", uri), image=uri, classes=("bicycle", "motorcycle"),
                                probabilities=(0.6, 0.4), model_version=1, reason="LowConfidenceError"))
    page = browser.new_page()
    evil = (f'<form id="f" method="post" action="{site.url}/review/{item.id}">'
            '<input name="label" value="motorcycle"></form><script>document.getElementById("f").submit()</script>')
    page.route("http://evil.example/", lambda route: route.fulfill(status=200, content_type="text/html", body=evil))
    with page.expect_response(lambda response: f"/review/{item.id}" in response.url) as answered:
        page.goto("http://evil.example/")
    assert answered.value.status == 403
    assert queue.get(item.id).answers == (), "the cross-site post answered nothing"
    page.close()


def test_sagemaker_runs_are_listed_when_configured(workspace):
    """Against moto: a SageMaker pipeline execution shows beside the local runs."""
    import boto3
    from moto import mock_aws

    from scones.ui.app import create_app

    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_pipeline(PipelineName="SconesAws", RoleArn="arn:aws:iam::123456789012:role/r",
                               PipelineDefinition='{"Version": "2020-12-01", "Steps": []}')
        arn = client.start_pipeline_execution(PipelineName="SconesAws")["PipelineExecutionArn"]
        app = create_app(workspace, sagemaker_pipeline="SconesAws", sagemaker_client=client)
        html = app.test_client().get("/").get_data(as_text=True)
    assert arn.rsplit("/", 1)[-1] in html
    assert "Succeeded" in html and "SageMaker" in html

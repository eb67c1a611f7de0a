"""Shadow and split on the dashboard, in Chromium: the approver starts a shadow from the version page, sees how
the candidate answered live traffic (agreement, the disagreements as images), stops it; an A/B split started
from the CLI shows its variants and whether the difference is real on the front page."""

import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from scones.serving.client import runtime_client
from scones.serving.run import build_server
from tests import support


@pytest.fixture
def site(served, trained_model, tmp_path):
    """v1 live; v2 a candidate that answers the other class (its own artifact: a shadow runs in its own process)."""
    from werkzeug.serving import make_server

    from scones.ui.app import create_app

    served.store().put_file(support.contrary_artifact(trained_model, tmp_path / "contrary.tar.gz"),
                            "s3://scones-local/models/v2/model.tar.gz")
    server, watcher = build_server(served, "scones-endpoint", port=0, log=lambda line: None)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    watcher.poll_seconds = 0.05
    watcher.start()
    dashboard = make_server("127.0.0.1", 0, create_app(served), threaded=True)
    threading.Thread(target=dashboard.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{dashboard.server_port}", server, served
    dashboard.shutdown()
    watcher.stop()
    server.shutdown()
    server.server_close()
    server.close_capture()


def _traffic(server, count, seed=0):
    client = runtime_client(server.url)
    for i in range(count):
        client.invoke_endpoint(EndpointName="scones-endpoint", ContentType="image/png", InferenceId=f"r{seed}-{i}",
                               Body=support.constant_png(30 if i % 2 else 220))


def test_an_approver_shadows_a_candidate_and_reads_how_it_answered_live_traffic(browser, site):
    url, server, served = site
    page = browser.new_page()
    page.goto(f"{url}/versions/2")
    assert "Shadow v2 on live traffic" in page.inner_text("#start-shadow")
    page.click("#start-shadow")
    page.wait_for_selector("#flash")
    assert "asked the endpoint to shadow v2" in page.inner_text("#flash")
    support.wait_for(lambda: server.status()["shadow"] is not None)
    _traffic(server, 24)
    server.shadow.drain()
    server.capture.flush()
    page.goto(f"{url}/versions/2")
    assert page.query_selector("#shadow-active") and page.query_selector("#stop-shadow")
    agreement = page.inner_text("#agreement")
    assert "On 24 live requests, v2 gave the live version's label 0.0 %" in agreement, agreement
    assert len(page.query_selector_all("#disagreements figure")) == 12
    assert len(page.query_selector_all("#disagreements img")) == 12, "each disagreement shows its image"
    assert "No reviewer has answered" in page.inner_text("#shadow-graded")
    page.goto(url)
    assert "v2 answers 100 % of requests off the record" in page.inner_text("#shadow-line")
    page.goto(f"{url}/versions/2")
    page.click("#stop-shadow")
    page.wait_for_selector("#flash")
    support.wait_for(lambda: server.status()["shadow"] is None)
    page.goto(f"{url}/versions/2")
    assert page.query_selector("#start-shadow") and "On 24 live requests" in page.inner_text("#agreement"), \
        "what the shadow answered stays readable after it stops"
    page.close()


def test_shadowing_from_another_site_is_refused(site):
    url, server, _ = site
    request = urllib.request.Request(f"{url}/versions/2/shadow", data=urllib.parse.urlencode({}).encode(),
                                     headers={"Origin": "https://evil.example"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 403
    assert server.status()["shadow"] is None


def test_a_split_started_from_the_cli_shows_its_variants_and_verdict(browser, site, capsys):
    from scones.cli import main

    url, server, served = site
    served.registry().approve(served.model_group, 2, "A/B against v1")
    support.wait_for(lambda: server.deployment.version.version == 2)
    assert main(["endpoint", "split", "1=50", "2=50"]) == 0
    printed = capsys.readouterr().out
    assert "variant v1: v1 50% of traffic" in printed and "variant v2: v2 50% of traffic" in printed
    _traffic(server, 40, seed=1)
    server.capture.flush()
    for writer in server._writers.values():
        writer.flush()
    page = browser.new_page()
    page.goto(url)
    rows = page.query_selector_all("#split tr.variant")
    assert [r.get_attribute("data-variant") for r in rows] == ["v1", "v2"]
    answered = sum(int(r.query_selector("td:nth-child(4)").inner_text()) for r in rows)
    assert answered == 40
    for row in rows:  # each version's figures from the capture report's own section for it
        assert float(row.query_selector("td:nth-child(6)").inner_text()) > 0.5
        assert row.query_selector("td:nth-child(7)").inner_text().endswith(" %")
    assert "not yet: a variant has no reviewed answers" in page.inner_text("#split-verdict")
    assert main(["endpoint", "split", "--off"]) == 0
    page.goto(url)
    assert not page.query_selector("#split")
    page.close()

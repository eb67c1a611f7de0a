"""The dashboard in real headless Chromium (Debian's package, driven by Playwright)."""

import os
import shutil
import subprocess
import threading

import numpy as np
import pytest

from processing.imaging import encode_png
from processing.synth import draw_image

#: Set to 1 only where a browser truly cannot exist; CI does not set it, so a missing Chromium fails there.
ALLOW_NO_BROWSER = "SCONES_ALLOW_NO_BROWSER"


def _no_browser(reason: str):
    if os.environ.get(ALLOW_NO_BROWSER) == "1":
        pytest.skip(f"{reason} ({ALLOW_NO_BROWSER}=1)")
    pytest.fail(f"{reason}; install Debian's chromium, or set {ALLOW_NO_BROWSER}=1 to skip on purpose")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        try:  # Debian's chromium package; the machine reaches Debian's registry
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True,
                           timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (subprocess.SubprocessError, OSError) as exc:
            _no_browser(f"Chromium is not installed and apt-get could not install it: {exc}")
        found = shutil.which("chromium")
    if not found:
        _no_browser("Chromium is not installed, and this is not root with apt-get to install it")
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api as playwright_api  # in the [test] extra: missing means a broken install
    executable = _chromium()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


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
    watcher.poll_seconds = 0.05
    threading.Thread(target=endpoint.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    watcher.start()
    dashboard = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=dashboard.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{dashboard.server_port}", record, home
    dashboard.shutdown()
    watcher.stop()
    endpoint.shutdown()
    endpoint.server_close()
    endpoint.capture.close()
    if previous is None:
        os.environ.pop("SCONES_HOME", None)
    else:
        os.environ["SCONES_HOME"] = previous


def test_dashboard_run_approve_live_upload(browser, site, tmp_path):
    url, record, home = site
    page = browser.new_page()
    page.goto(url)
    assert page.inner_text("#version-1 td:nth-child(2)") == "PendingManualApproval"

    page.click(f"a:has-text('{record.execution_id}')")
    page.wait_for_selector("g.step")
    steps = {el.get_attribute("data-step"): el.get_attribute("data-status") for el in page.query_selector_all("g.step")}
    for name in ("EtlCifar", "CheckImages", "TrainModel", "EvaluateModel", "CheckAccuracy",
                 "RegisterModel-RegisterModel"):
        assert steps[name] == "Succeeded"
    assert steps["AccuracyBelowThreshold"] == "NotExecuted"
    assert page.inner_text("#run-status") == "Succeeded"

    page.goto(url)
    page.click("#approve-1")
    assert "v1 is now Approved" in page.inner_text("#flash")
    for _ in range(100):
        if page.query_selector("#live-version") and page.inner_text("#live-version") == "v1":
            break
        page.wait_for_timeout(100)
        page.goto(url)
    assert page.inner_text("#live-version") == "v1"
    assert page.inner_text("#version-1 td:nth-child(2)") == "Approved"

    image = tmp_path / "bicycle.png"
    image.write_bytes(encode_png(draw_image("bicycle", np.random.default_rng(7))))
    page.set_input_files("#upload", str(image))
    page.fill("input[name=threshold]", "0.5")
    page.click("#classify-button")
    page.wait_for_selector("#classify-result")
    assert page.inner_text("#result-label") in ("bicycle", "motorcycle")
    assert page.inner_text("#result-status") == "passed"
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector("#monitoring img", "img => img.complete && img.naturalWidth") > 800, \
        "the confidence plot of the captured traffic is a real image"
    page.screenshot(path=str(home / "dashboard.png"), full_page=True)
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

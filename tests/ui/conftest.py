"""The dashboard's browser: real headless Chromium (Debian's package, driven by Playwright)."""

import pytest

#: Set to 1 only where a browser truly cannot exist; CI does not set it, so a missing Chromium fails there.
ALLOW_NO_BROWSER = "SCONES_ALLOW_NO_BROWSER"


def _chromium() -> str:
    from tests.support import debian_program

    return debian_program("chromium", "chromium", ALLOW_NO_BROWSER)


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

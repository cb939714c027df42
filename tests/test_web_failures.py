"""The page never shows a stale result, in headless Chromium against a real `meshfer serve` (set up as in
tests/test_web.py, whose fixtures these are): a failed upload clears the result panel and shows its error there, a
503 is retried after its Retry-After and then reported, Stop camera says so and clears the labels, and faces are
numbered from 0 as in the API and the CLI."""
import struct
import zlib

import pytest

from tests.test_web import (HAPPY, browser_binaries, clip, driver, open_page, page_errors,  # noqa: F401
                            results, server, upload, url)

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")

# The page's fetch, answering the next `busy` uploads with 503 + Retry-After: 1 itself (a server that is busy
# exactly then cannot be arranged from outside); every other request goes to the server. window.uploads counts
# the uploads the page attempted.
BUSY_FOR = """
const [busy] = arguments;
window.uploads = 0;
window.realFetch = window.realFetch || window.fetch;
window.fetch = (path, options) => {
  if (!String(path).startsWith("/v1/predict")) return window.realFetch(path, options);
  window.uploads += 1;
  if (window.uploads > busy) return window.realFetch(path, options);
  return Promise.resolve(new Response(JSON.stringify({error: "server busy (9 requests in progress); retry shortly"}),
    {status: 503, headers: {"Content-Type": "application/json", "Retry-After": "1"}}));
};
"""


def latest(driver) -> dict:
    node = driver.find_element("id", "latest")
    return {"expression": node.get_attribute("data-expression"), "text": node.text}


def panel(driver) -> dict:
    return {"cards": len(driver.find_elements("css selector", "#faces .face")),
            "failed": [p.text for p in driver.find_elements("css selector", "#faces .failed")]}


def header_only_png(path, width: int, height: int):
    """A PNG that declares a huge size and holds no pixels: the server refuses it from its header (413)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


def wait_error(driver, timeout: float = 30) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    message = driver.find_element("id", "message")
    WebDriverWait(driver, timeout).until(lambda d: "error" in message.get_attribute("class"))
    return message.text


def test_faces_are_numbered_from_0_as_in_the_api(driver, url):
    open_page(driver, url, 1200, 900)
    upload(driver, HAPPY, 0)
    assert driver.find_element("css selector", "#faces .face .num").text == "0"
    assert latest(driver)["text"].endswith("face 0: happy")
    assert driver.find_element("css selector", "#timeline-box h2 small").get_attribute("textContent") == "(face 0)"


@pytest.mark.parametrize("kind", ["unreadable", "too large"])
def test_a_failed_upload_clears_the_previous_result(driver, url, tmp_path, kind):
    open_page(driver, url, 1200, 900)
    upload(driver, HAPPY, 0)
    assert latest(driver)["expression"] == "happy" and panel(driver)["cards"] == 1

    if kind == "unreadable":
        bad = tmp_path / "broken.jpg"
        bad.write_bytes(b"not an image at all")
    else:
        bad = header_only_png(tmp_path / "huge.png", 16000, 12000)
    driver.find_element("id", "file").send_keys(str(bad))
    error = wait_error(driver)
    assert error.startswith(bad.name + ": ")
    assert ("image" in error) if kind == "unreadable" else ("image too large (16000x12000 = 192 MP" in error)
    assert panel(driver) == {"cards": 0, "failed": [error]}  # the error in the results' place
    assert latest(driver)["expression"] == "" and "happy" not in latest(driver)["text"]
    # the browser cannot show either file: the stage is back to its hint, the earlier photo and its boxes gone
    view = driver.find_element("id", "view")
    assert view.get_attribute("data-faces") == "0" and view.get_attribute("data-drawn") == ""
    assert "empty" in driver.find_element("id", "drop").get_attribute("class")


def test_a_busy_server_is_retried_after_retry_after(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    driver.execute_script(BUSY_FOR, 2)
    before = results(driver)
    driver.find_element("id", "file").send_keys(str(HAPPY.resolve()))
    message = driver.find_element("id", "message")
    WebDriverWait(driver, 10).until(lambda d: "trying again in 1 s" in message.text)
    WebDriverWait(driver, 30).until(lambda d: results(d) > before)
    assert driver.execute_script("return window.uploads") == 3  # two 503s, then the answer
    assert latest(driver)["expression"] == "happy" and "error" not in message.get_attribute("class")


def test_a_server_busy_for_longer_is_reported_and_clears_the_panel(driver, url):
    open_page(driver, url, 1200, 900)
    upload(driver, HAPPY, 0)
    driver.execute_script(BUSY_FOR, 99)
    driver.find_element("id", "file").send_keys(str(HAPPY.resolve()))
    error = wait_error(driver, timeout=30)
    assert "server busy" in error and driver.execute_script("return window.uploads") == 4  # 1 + 3 retries
    assert panel(driver) == {"cards": 0, "failed": [error]} and latest(driver)["expression"] == ""


def test_stop_camera_says_so_and_clears_the_labels(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    page_errors(driver)  # read, and so emptied: the refused uploads of the tests before
    camera = driver.find_element("id", "camera")
    camera.click()
    WebDriverWait(driver, 40).until(lambda d: results(d) >= 3 and latest(d)["expression"] != "")
    view = driver.find_element("id", "view")
    WebDriverWait(driver, 10).until(lambda d: view.get_attribute("data-faces") == "1")
    camera.click()
    message = driver.find_element("id", "message")
    assert message.text == "Camera stopped." and "Camera on" not in message.text
    assert camera.text == "Start camera"
    assert latest(driver) == {"expression": "", "text": "Camera stopped: no live result."}
    assert panel(driver) == {"cards": 0, "failed": []}
    assert view.get_attribute("data-faces") == "0"  # the frozen frame keeps no label
    assert page_errors(driver) == []

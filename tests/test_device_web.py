"""The page of a real `meshfer serve` in device mode (?mode=device), in headless Chromium: the answer of an upload
has the API's fields and values, nothing is asked of /v1/ or of another origin once the page is loaded (Chromium's
DevTools network log, checked to see the server mode's requests first), and the camera runs on the fake camera with
the timeline and the eye events. `MESHFER_SCREENSHOTS=docs` saves docs/device-camera.png."""
import json
import time
import urllib.request

import pytest

from bench.device import open_device_page
from tests.device_fixtures import browser_session, console_errors, foreign_requests, requests_made, upload_file
from tests.fixtures.make_clip import clip_from_photos
from tests.test_web import HAPPY, NEUTRAL, running, shots  # noqa: F401 (shots: a fixture)

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")


@pytest.fixture(scope="module")
def server():
    yield from running()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    clip = clip_from_photos(tmp_path_factory.mktemp("camera") / "clip.y4m", [HAPPY, NEUTRAL], seconds=3, fps=10)
    yield from browser_session("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                               f"--use-file-for-fake-video-capture={clip}")


@pytest.fixture(scope="module")
def url(server, browser) -> str:
    server.wait_ready()
    return server.url


def open_page(browser, url: str, mode: str) -> None:
    browser.set_window_size(1200, 1250)
    open_device_page(browser, f"{url}/?mode={mode}")


def api_answer(url: str, path) -> dict:
    request = urllib.request.Request(f"{url}/v1/predict?eyes=true", data=path.read_bytes(), method="POST",
                                     headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_an_upload_in_device_mode_answers_as_the_api(browser, url):
    open_page(browser, url, "device")
    mode = browser.find_element("id", "mode")
    assert mode.get_attribute("value") == "device" and mode.get_attribute("data-mode") == "device"
    assert mode.is_displayed() and "on this device" in mode.text and "on the server" in mode.text
    for photo, expected in ((HAPPY, "happy"), (NEUTRAL, "neutral")):
        shown = upload_file(browser, photo)
        assert shown["expression"] == expected
        api = api_answer(url, photo)["faces"]
        assert [list(face) for face in shown["faces"]] == [list(face) for face in api]  # same fields, same order
        for mine, theirs in zip(shown["faces"], api):
            assert mine["expression"] == theirs["expression"]
            assert (mine["left_eye"], mine["right_eye"]) == (theirs["left_eye"], theirs["right_eye"])
            assert max(abs(mine[k] - theirs[k]) for k in mine if k.startswith("p_")) < 0.05
            assert max(abs(mine[k] - theirs[k]) for k in ("x_min", "y_min", "x_max", "y_max")) < 2.0
        assert shown["ms"] > 0
    assert console_errors(browser) == []


def test_device_mode_sends_nothing_anywhere(browser, url):
    # the recorder sees the API's requests in server mode...
    open_page(browser, url, "server")
    requests_made(browser)  # drops what the loading asked for
    upload_file(browser, HAPPY)
    assert any("/v1/predict" in u for u in foreign_requests(requests_made(browser), url))
    # ...and none in device mode, after the page and its runtimes have loaded: an upload and the camera
    open_page(browser, url, "device")
    assert any("/device/models/" in u for u in requests_made(browser))
    upload_file(browser, NEUTRAL)
    browser.find_element("id", "camera").click()
    time.sleep(4)
    browser.find_element("id", "camera").click()
    assert foreign_requests(requests_made(browser), url) == []


def test_the_camera_runs_in_device_mode(browser, url, shots):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, url, "device")
    latest = browser.find_element("id", "latest")
    camera = browser.find_element("id", "camera")
    camera.click()
    WebDriverWait(browser, 90).until(lambda d: int(latest.get_attribute("data-results")) >= 5)
    seen, deadline = set(), time.monotonic() + 30  # the clip: a happy face, then a neutral one, 1.5 s each
    while time.monotonic() < deadline and not {"happy", "neutral"} <= seen:
        seen.add(latest.get_attribute("data-expression"))
        time.sleep(0.05)
    assert {"happy", "neutral"} <= seen, seen
    assert float(latest.get_attribute("data-ms")) > 0
    assert browser.find_element("id", "ms-where").text == "this device"
    assert int(browser.find_element("id", "timeline").get_attribute("data-points")) >= 5
    events = browser.find_element("id", "eye-events")
    assert events.is_displayed() and "PERCLOS" in events.text, events.text
    assert float(events.get_attribute("data-perclos")) == 0.0  # the clip's eyes are open throughout
    assert browser.save_screenshot(str(shots / "device-camera.png"))
    camera.click()
    assert camera.get_attribute("aria-pressed") == "false"
    assert console_errors(browser) == []


def test_the_mode_choice_reloads_the_page_in_the_other_mode(browser, url):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    open_page(browser, url, "server")
    Select(browser.find_element("id", "mode")).select_by_value("device")
    WebDriverWait(browser, 30).until(lambda d: "mode=device" in d.current_url and d.find_element(
        "id", "mode").get_attribute("data-mode") == "device")

"""The web page of a real `meshfer serve`, in a real browser: headless Chromium driven by Selenium. A photo is
uploaded through the file input; the camera mode runs on Chromium's fake camera playing a clip made from the fixture
photos. Screenshots of both are saved to $MESHFER_SCREENSHOTS when it names a folder (`MESHFER_SCREENSHOTS=docs`
makes the README's pictures), else to pytest's temporary folder, so a test run leaves the checkout as it was.

Without Chromium, its driver or Selenium the tests are skipped with the reason shown; with MESHFER_REQUIRE_BROWSER=1
(as CI sets it) that is a failure instead. MESHFER_CHROMIUM and MESHFER_CHROMEDRIVER name other binaries."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from meshfer.runtime import bundled_models_dir, default_approach
from tests.conftest import FIXTURES, ROOT, missing_browser
from tests.fixtures.make_clip import clip_from_photos

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")

HAPPY = FIXTURES / "faces" / "eileen_collins.jpg"
NEUTRAL = FIXTURES / "faces" / "grace_hopper.jpg"
READY_TIMEOUT = 90
TOKEN = "web-t0ken"

# Pixels of a canvas: how many differ from the first one, and how many are clearly coloured (not gray).
CANVAS_STATS = """
const canvas = document.getElementById(arguments[0]);
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let differ = 0, coloured = 0;
for (let i = 0; i < data.length; i += 4) {
  const r = data[i], g = data[i + 1], b = data[i + 2];
  if (Math.abs(r - data[0]) + Math.abs(g - data[1]) + Math.abs(b - data[2]) > 30) differ++;
  if (Math.max(r, g, b) - Math.min(r, g, b) > 80) coloured++;
}
return {width: canvas.width, height: canvas.height, differ: differ, coloured: coloured};
"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MESHFER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(env: str, names: list[str]) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).is_file() else None
    return next((found for found in map(shutil.which, names) if found), None)


@pytest.fixture(scope="module")
def browser_binaries() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing_browser("needs Selenium: pip install selenium (it is in the [test] extra)")
    chromium = find_binary("MESHFER_CHROMIUM",
                           ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"])
    driver = find_binary("MESHFER_CHROMEDRIVER", ["chromedriver"])
    if not chromium or not driver:
        missing_browser("needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver; or set "
                        "MESHFER_CHROMIUM and MESHFER_CHROMEDRIVER)")
    return chromium, driver


class Server:
    """`meshfer serve` in a subprocess, its stderr lines collected as they come."""

    def __init__(self, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "meshfer.cli", "serve", "--port", str(self.port), *args],
                                        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("serving on" in line for line in self.lines):
                with urllib.request.urlopen(self.url + "/healthz", timeout=10) as response:
                    assert response.status == 200
                return
            assert self.process.poll() is None, "meshfer serve exited:\n" + "\n".join(self.lines)
            time.sleep(0.1)
        raise AssertionError(f"meshfer serve not ready in {timeout} s:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)


def running(*args: str):
    """A server for a fixture: started first (its models load while the browser starts), ready once `url` is asked
    for, stopped at the end."""
    srv = Server(*args)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server(browser_binaries):
    yield from running()


@pytest.fixture(scope="module")
def token_server(browser_binaries):
    yield from running("--token", TOKEN)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """3 s at 10 fps: the happy face, then the neutral one (Chromium loops it)."""
    return clip_from_photos(tmp_path_factory.mktemp("camera") / "clip.y4m", [HAPPY, NEUTRAL], seconds=3, fps=10)


@pytest.fixture(scope="module")
def driver(browser_binaries, server, clip):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-video-capture={clip}", "--window-size=1200,900", "--hide-scrollbars",
                 "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def url(server, driver) -> str:
    server.wait_ready()
    return server.url


def open_page(driver, url: str, width: int, height: int) -> None:
    """The page at this window size, once it has listed the server's models."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(width, height)
    driver.get(url + "/")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const s = document.getElementById('approach'); return !s.disabled && s.value !== '';"))


def results(driver) -> int:
    return int(driver.find_element("id", "latest").get_attribute("data-results") or 0)


def page_errors(driver) -> list[str]:
    """Severe messages in the browser's console (script errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def upload(driver, path: Path, before: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element("id", "file").send_keys(str(path.resolve()))
    WebDriverWait(driver, 30).until(lambda d: results(d) > before or "error" in d.find_element(
        "id", "message").get_attribute("class"))
    message = driver.find_element("id", "message")
    assert "error" not in message.get_attribute("class"), message.text


def test_upload_draws_the_faces_and_their_scores(driver, url, shots):
    open_page(driver, url, 1200, 900)
    approach = driver.find_element("id", "approach")
    chosen = approach.find_element("css selector", "option:checked").text
    default = default_approach(bundled_models_dir())  # the bundled serving.json's choice
    assert chosen.startswith(f"{default} ") and "val " in chosen and "(default)" in chosen, chosen
    assert len(approach.find_elements("tag name", "option")) >= 2

    upload(driver, HAPPY, 0)
    latest = driver.find_element("id", "latest")
    assert latest.get_attribute("data-results") == "1"
    assert latest.get_attribute("data-expression") == "happy"

    view = driver.find_element("id", "view")
    assert view.get_attribute("data-drawn") == "photo" and view.get_attribute("data-faces") == "1"
    pixels = driver.execute_script(CANVAS_STATS, "view")
    assert (pixels["width"], pixels["height"]) == (512, 512)
    assert pixels["differ"] > 0.5 * 512 * 512  # the photo is there, not a blank canvas
    assert view.is_displayed() and view.size["width"] > 300

    cards = driver.find_elements("css selector", "#faces .face")
    assert len(cards) == 1
    bars = cards[0].find_elements("css selector", ".bars li")
    assert [b.find_element("css selector", ".name").text for b in bars] == [
        "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    top = cards[0].find_element("css selector", ".bars li.top")
    assert top.find_element("css selector", ".name").text == "happy"
    assert top.find_element("css selector", ".fill").size["width"] > 0.9 * top.find_element(
        "css selector", ".track").size["width"]
    eyes = [e.text for e in cards[0].find_elements("css selector", ".eyes li")]
    assert len(eyes) == 2 and eyes[0].startswith("left eye") and eyes[1].startswith("right eye"), eyes
    assert any(state in eyes[0] for state in ("wide", "open", "narrowed", "closed")), eyes

    assert driver.save_screenshot(str(shots / "serve-upload.png"))
    assert page_errors(driver) == []


def test_phone_width_has_no_sideways_scrolling(driver, url):
    open_page(driver, url, 390, 844)
    upload(driver, NEUTRAL, 0)
    assert driver.find_element("id", "latest").get_attribute("data-expression") == "neutral"
    widths = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth, "
                                   "document.getElementById('view').getBoundingClientRect().width];")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"
    assert widths[2] >= widths[1] - 60, f"the picture is only {widths[2]} px wide"
    for control in ("file", "camera", "approach"):
        box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];",
                                    driver.find_element("id", control))
        assert 0 <= box[0] and box[1] <= widths[1], (control, box)


# A photo handed to the page as a paste (Ctrl-V) or a drop would hand it: a File in a DataTransfer, in an event.
HAND_OVER = """
const [how, base64, name] = arguments;
const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
const event = how === "paste" ? new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true})
  : new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true});
document.getElementById(how === "paste" ? "latest" : "drop").dispatchEvent(event);
"""


def test_a_pasted_or_dropped_photo_is_analysed(driver, url):
    import base64

    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    for n, (how, photo, expected) in enumerate([("paste", NEUTRAL, "neutral"), ("drop", HAPPY, "happy")], start=1):
        driver.execute_script(HAND_OVER, how, base64.b64encode(photo.read_bytes()).decode(), photo.name)
        WebDriverWait(driver, 30).until(lambda d: results(d) >= n)
        assert driver.find_element("id", "latest").get_attribute("data-expression") == expected, how
        assert driver.find_element("id", "message").text.startswith(photo.name), how


def test_an_api_error_is_shown(driver, url, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 900)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    driver.find_element("id", "file").send_keys(str(broken))
    message = driver.find_element("id", "message")
    WebDriverWait(driver, 20).until(lambda d: "error" in message.get_attribute("class"))
    assert message.is_displayed() and message.text.startswith("broken.jpg: ") and "image" in message.text, message.text
    assert results(driver) == 0
    assert all("415" in error for error in page_errors(driver)), page_errors(driver)


def test_camera_streams_frames_and_draws_the_timeline(driver, url, shots):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(driver, url, 1200, 1250)
    latest = driver.find_element("id", "latest")
    camera = driver.find_element("id", "camera")
    camera.click()
    started = time.monotonic()
    WebDriverWait(driver, 40).until(lambda d: results(d) >= 5 and latest.get_attribute("data-expression") != "")
    assert camera.get_attribute("aria-pressed") == "true"

    # the clip loops a happy face and a neutral one, 1.5 s each: the live result follows it
    seen, deadline = set(), time.monotonic() + 20
    while time.monotonic() < deadline and not {"happy", "neutral"} <= seen:
        seen.add(latest.get_attribute("data-expression"))
        time.sleep(0.05)
    assert {"happy", "neutral"} <= seen, seen

    view = driver.find_element("id", "view")
    assert view.get_attribute("data-drawn") == "camera"
    assert (int(view.get_attribute("width")), int(view.get_attribute("height"))) == (640, 480)
    timeline = driver.find_element("id", "timeline")
    assert int(timeline.get_attribute("data-points")) >= 5
    pixels = driver.execute_script(CANVAS_STATS, "timeline")
    assert pixels["coloured"] > 300, pixels  # the expression lines, drawn in colour over a white and gray chart
    stats = driver.find_element("id", "stats")
    assert stats.is_displayed() and "fps" in stats.text and "– fps" not in stats.text, stats.text
    assert float(driver.find_element("id", "server-ms").text) > 0
    assert len(driver.find_elements("css selector", "#legend li")) == 10  # 7 expressions, 2 eyes, no face

    time.sleep(max(0.0, started + 7 - time.monotonic()))  # a few of the clip's loops on the timeline, for the picture
    assert driver.save_screenshot(str(shots / "serve-camera.png"))

    camera.click()
    assert camera.get_attribute("aria-pressed") == "false" and camera.text == "Start camera"
    stopped_at = results(driver)
    time.sleep(0.6)
    assert results(driver) <= stopped_at + 1  # at most the answer already on its way
    assert page_errors(driver) == []


def test_a_token_is_asked_for_and_sent(driver, token_server):
    from selenium.webdriver.support.ui import WebDriverWait

    token_server.wait_ready()
    driver.set_window_size(1200, 900)
    driver.get(token_server.url + "/")
    form, field = driver.find_element("id", "token-form"), driver.find_element("id", "token")
    message = driver.find_element("id", "message")
    WebDriverWait(driver, 20).until(lambda d: form.is_displayed())
    assert "needs a token" in message.text and "error" in message.get_attribute("class")

    field.send_keys("not-the-token")
    form.find_element("css selector", "button").click()
    WebDriverWait(driver, 20).until(lambda d: "not accepted" in message.text and form.is_displayed())
    field.send_keys(TOKEN)
    form.find_element("css selector", "button").click()
    WebDriverWait(driver, 20).until(lambda d: not form.is_displayed() and d.find_element("id", "approach").is_enabled())

    upload(driver, HAPPY, 0)  # the Bearer header
    assert driver.find_element("id", "latest").get_attribute("data-expression") == "happy"
    camera = driver.find_element("id", "camera")
    camera.click()  # the WebSocket's ?token=
    WebDriverWait(driver, 30).until(lambda d: results(d) >= 4)
    camera.click()
    assert "error" not in message.get_attribute("class"), message.text
    # the only console errors: the two refused /v1/models requests
    assert all("401" in error for error in page_errors(driver)), page_errors(driver)

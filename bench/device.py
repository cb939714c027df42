"""Device mode against the Python path: speed per 640x480 frame and parity of the answers, in headless Chromium.

The page runs from a `meshfer web export` site served by `python -m http.server` (no meshfer process), one wasm
thread, as a phone or laptop would run it. Speed: the page's analysis time per frame (landmarks + models, what
`#latest[data-ms]` shows; the landmarks alone beside it) on a 640x480 frame made from a fixture photo, median and p95,
and the Python Recognizer's time on the same frame in the same run (the machine is shared: the two figures are
comparable, the absolute ones less so). Parity: the page and the Python Recognizer on the same files (fixture photos,
FER-2013 test faces, the eye set's photos): same number of faces, same expression, same eye states, the largest
probability difference.

Run: `nice -n 10 python -m bench.device` (about 5 minutes on 2 cores) -> bench/results/device.json.
The tests (tests/test_device_*.py) use the same harness on smaller samples.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, fer_sample, write_result
from meshfer.labels import PROBABILITY_PREFIX

FRAME = (640, 480)
FIXTURE_PHOTOS = sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg"))
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-US",
                  "--window-size=1200,900", "--force-device-scale-factor=1")
# MediaPipe's wasm writes this INFO line to the console's error stream; it is not an error.
MEDIAPIPE_CONSOLE_NOISE = ("Created TensorFlow Lite XNNPACK delegate",)


class StaticSite:
    """`meshfer web export` into a temporary folder, served by `python -m http.server` on a free port; extra files
    (the images to analyse) are linked into its ``inputs/`` folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        subprocess.run([sys.executable, "-m", "meshfer.cli", "web", "export", str(folder)], check=True,
                       stdout=subprocess.DEVNULL)
        (folder / "inputs").mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(folder),
                                         str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("python -m http.server did not start")

    def add(self, files: list[Path]) -> list[str]:
        """Link the files into the site; their URLs relative to the page, in order."""
        urls = []
        for path in files:
            name = f"{len(list((self.folder / 'inputs').iterdir())):05d}{path.suffix.lower()}"
            (self.folder / "inputs" / name).symlink_to(Path(path).resolve())
            urls.append(f"inputs/{name}")
        return urls

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def chromium(binary: str = "chromium", driver: str = "chromedriver", extra: tuple[str, ...] = ()):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(binary) or binary
    for flag in (*CHROMIUM_FLAGS, *extra):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which(driver) or driver))
    browser.set_script_timeout(900)
    return browser


def open_device_page(browser, url: str) -> None:
    """The page, once it has listed the models (device mode: from the site's models index)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "const s = document.getElementById('approach'); return !s.disabled && s.value !== '';"))


# In the page: each URL fetched from the site, decoded and analysed by device/page.js (what an upload does).
ANALYSE = """
const [urls, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const page = await import(new URL("static/device/page.js", document.baseURI).href);
  const approach = document.getElementById("approach").value;
  const out = [];
  for (const url of urls) {
    try {
      const pixels = await page.decode(await (await fetch(url)).blob());
      out.push(await page.analyse(pixels, approach));
    } catch (err) {
      out.push({error: String(err && err.message || err)});
    }
  }
  return out;
})().then(done, (err) => done([{error: String(err)}]));
"""


def device_results(browser, urls: list[str], chunk: int = 50) -> list[dict]:
    out = []
    for start in range(0, len(urls), chunk):
        out.extend(browser.execute_async_script(ANALYSE, urls[start:start + chunk]))
    return out


def python_results(files: list[Path]) -> list[dict]:
    """The Python Recognizer's answers, as the API's face records (full precision)."""
    from meshfer import Recognizer

    out = []
    with Recognizer() as rec:
        for path in files:
            faces = rec.predict_faces(path)
            out.append({"faces": [{name: (values[i].item() if hasattr(values[i], "item") else values[i])
                                   for name, values in faces.column_values().items()} for i in range(len(faces))]})
    return out


def parity(python: list[dict], device: list[dict]) -> dict:
    """How often the page and Python agree: faces found, expression and eye states of the faces both found (face i
    of one against face i of the other), and the largest differences."""
    errors = [d["error"] for d in device if "error" in d]
    same_count = [len(p["faces"]) == len(d.get("faces", [])) for p, d in zip(python, device)]
    pairs = [(a, b) for p, d in zip(python, device) for a, b in zip(p["faces"], d.get("faces", []))]
    probabilities = [k for k in (pairs[0][0] if pairs else {}) if k.startswith(PROBABILITY_PREFIX)]
    eyes = [(a[f"{side}_eye"], b[f"{side}_eye"]) for a, b in pairs for side in ("left", "right") if f"{side}_eye" in a]
    box = [max(abs(a[k] - b[k]) for k in ("x_min", "y_min", "x_max", "y_max")) for a, b in pairs]
    return {
        "images": len(python),
        "device_errors": len(errors), "first_error": errors[0] if errors else None,
        "same_face_count": round(float(np.mean(same_count)), 4) if same_count else None,
        "faces_python": sum(len(p["faces"]) for p in python),
        "faces_device": sum(len(d.get("faces", [])) for d in device),
        "faces_both": len(pairs),
        "same_expression": round(float(np.mean([a["expression"] == b["expression"] for a, b in pairs])), 4)
        if pairs else None,
        "max_probability_difference": round(max((abs(a[k] - b[k]) for a, b in pairs for k in probabilities),
                                                default=0.0), 4),
        "median_probability_difference": round(float(np.median([abs(a[k] - b[k]) for a, b in pairs
                                                                for k in probabilities])), 5) if pairs else None,
        "same_eye_state": round(float(np.mean([a == b for a, b in eyes])), 4) if eyes else None,
        "max_openness_difference": round(max((abs(a[f"{s}_eye_openness"] - b[f"{s}_eye_openness"])
                                              for a, b in pairs for s in ("left", "right")
                                              if f"{s}_eye_openness" in a), default=0.0), 4),
        "max_box_difference_px": round(max(box, default=0.0), 3),
    }


def parity_of(browser, site: StaticSite, files: list[Path]) -> dict:
    return parity(python_results(files), device_results(browser, site.add(files)))


def eye_photos(per_label: int) -> list[Path]:
    """The first photos by name of each label of the eye set (UTKFace for wide/open/narrowed, CEW for closed)."""
    root = Path(os.environ.get("MESHFER_EYES_DATA") or ROOT / "data" / "raw" / "eyes")
    return [p for folder in sorted(root.glob("eye_*")) for p in sorted(folder.glob("*.jpg"))[:per_label]]


def frame_file(folder: Path) -> Path:
    """A 640x480 camera-like frame: the first fixture photo on a gray background (PNG: no codec difference)."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.make_clip import fit_frame

    path = folder / "frame640x480.png"
    fit_frame(FIXTURE_PHOTOS[0], *FRAME).save(path)
    return path


# In the page: the frame analysed ``repeat`` times after ``warmup`` runs: whole analyses (what data-ms shows) and
# the landmarker's passes alone.
SPEED = """
const [url, warmup, repeat, done] = arguments;
(async () => {
  const page = await import(new URL("static/device/page.js", document.baseURI).href);
  const approach = document.getElementById("approach").value;
  const rec = await page.recognizer(approach);
  const imageops = await import(new URL("static/device/imageops.js", document.baseURI).href);
  const pixels = await page.decode(await (await fetch(url)).blob());
  const total = [], landmarks = [];
  let faces = 0;
  for (let i = 0; i < warmup + repeat; i++) {
    const result = await page.analyse(pixels, approach);
    const started = performance.now();
    const rgb = imageops.fromImageData(pixels);
    rgb.imageData = pixels;
    await rec.landmarker.detect(rgb);
    if (i >= warmup) { total.push(result.ms); landmarks.push(performance.now() - started); }
    faces = result.faces.length;
  }
  return {total, landmarks, faces, crossOriginIsolated: self.crossOriginIsolated,
          hardwareConcurrency: navigator.hardwareConcurrency, userAgent: navigator.userAgent};
})().then(done, (err) => done({error: String(err)}));
"""


def summary(times_ms: list[float]) -> dict:
    values = np.asarray(times_ms, dtype=float)
    return {"median_ms": round(float(np.median(values)), 1), "p95_ms": round(float(np.percentile(values, 95)), 1),
            "runs": int(len(values))}


def device_speed(browser, site: StaticSite, frame: Path, warmup: int, repeat: int) -> dict:
    [url] = site.add([frame])
    result = browser.execute_async_script(SPEED, url, warmup, repeat)
    if "error" in result:
        raise RuntimeError(result["error"])
    models = [t - m for t, m in zip(result["total"], result["landmarks"])]
    return {"analysis": summary(result["total"]), "landmarks": summary(result["landmarks"]),
            "models_and_features": summary(models), "faces": result["faces"],
            "cross_origin_isolated": result["crossOriginIsolated"], "browser": result["userAgent"],
            "wasm_threads": 1}


def python_speed(frame: Path, warmup: int, repeat: int) -> dict:
    from meshfer import Recognizer
    from meshfer.imageio import read_rgb

    rgb = read_rgb(frame)
    total, landmarks = [], []
    with Recognizer() as rec:
        for i in range(warmup + repeat):
            started = time.perf_counter()
            faces = rec.predict_faces(rgb)
            middle = time.perf_counter()
            rec.landmarker.detect(rgb)
            if i >= warmup:
                total.append(1000 * (middle - started))
                landmarks.append(1000 * (time.perf_counter() - middle))
    return {"analysis": summary(total), "landmarks": summary(landmarks), "faces": len(faces),
            "onnxruntime_threads": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--fer-per-label", type=int, default=43, help="FER-2013 test faces per label (7 labels)")
    parser.add_argument("--eyes-per-label", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        site = StaticSite(Path(tmp) / "site")
        browser = chromium()
        try:
            open_device_page(browser, site.url)
            frame = frame_file(Path(tmp))
            load = os.getloadavg()
            speed = {"frame": f"{FRAME[0]}x{FRAME[1]}, {FIXTURE_PHOTOS[0].name} on gray",
                     "device": device_speed(browser, site, frame, 3, args.repeat),
                     "python": python_speed(frame, 3, args.repeat),
                     "load_average_before": [round(x, 2) for x in load]}
            parities = {"fixtures": parity_of(browser, site, FIXTURE_PHOTOS),
                        "fer2013_test": parity_of(browser, site, fer_sample(args.fer_per_label)),
                        "eyes": parity_of(browser, site, eye_photos(args.eyes_per_label))}
        finally:
            browser.quit()
            site.stop()
    write_result("device", {"speed": speed, "parity": parities,
                            "targets": {"median_ms": 66, "same_face_count": 0.97, "same_expression": 0.95,
                                        "same_eye_state": 0.93}})
    return 0


if __name__ == "__main__":
    sys.exit(main())

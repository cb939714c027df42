"""`meshfer web export DIR`: a static site that works from `python -m http.server` alone (no meshfer process behind
it), in device mode only, under its own Content-Security-Policy; and the command's refusals."""
import importlib.util
import json
import subprocess
import sys

from bench.device import open_device_page
from tests.conftest import ROOT
from tests.device_fixtures import device_browser, static_site  # noqa: F401 (fixtures)
from tests.device_fixtures import console_errors, foreign_requests, requests_made
from tests.test_web import HAPPY, NEUTRAL


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshfer.cli", "web", "export", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_export_refuses_a_folder_with_files_and_a_missing_models_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    done = export(str(tmp_path))
    assert done.returncode == 2 and "not an empty folder" in done.stderr and done.stderr.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]  # nothing written, nothing overwritten
    done = export(str(tmp_path / "new"), "--models-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "no such folder" in done.stderr and not (tmp_path / "new").exists()


def test_the_export_holds_the_page_the_runtimes_and_the_models(static_site):  # noqa: F811
    site = static_site.folder
    page = (site / "index.html").read_text()
    assert 'data-site="static"' in page and "'wasm-unsafe-eval'" in page and 'src="static/app.js"' in page
    index = json.loads((site / "device" / "models" / "index.json").read_text())
    assert index["default"] in [a["name"] for a in index["approaches"]]
    for approach in [a["name"] for a in index["approaches"]] + ["eyes"]:
        assert (site / "device" / "models" / approach / "card.json").is_file()
    assert (site / "device" / "face_landmarker.task").stat().st_size > 3_000_000
    assert (site / "static" / "vendor" / "onnxruntime-web" / "ort-wasm-simd-threaded.wasm").is_file()
    assert not list(site.rglob("*jsep*")) and not list(site.rglob("*webgpu*"))  # the plain wasm build only


def test_the_exported_site_analyses_a_photo_from_a_static_server(device_browser, static_site):  # noqa: F811
    from tests.device_fixtures import upload_file

    open_device_page(device_browser, static_site.url)
    mode = device_browser.find_element("id", "mode")
    assert mode.get_attribute("data-mode") == "device"
    assert [o.get_attribute("value") for o in mode.find_elements("tag name", "option")] == ["device"]
    assert not device_browser.find_element("id", "api-links").is_displayed()
    for photo, expected in ((HAPPY, "happy"), (NEUTRAL, "neutral")):
        assert upload_file(device_browser, photo)["expression"] == expected
    assert foreign_requests(requests_made(device_browser), static_site.url) == []
    assert console_errors(device_browser) == []  # no script error, no Content-Security-Policy violation


def test_the_vendored_runtimes_are_the_pinned_ones_without_mediapipes_metrics_upload():
    vendor = ROOT / "meshfer" / "assets" / "web" / "vendor"
    pinned = json.loads((ROOT / "web" / "package.json").read_text())["dependencies"]
    assert json.loads((vendor / "versions.json").read_text()) == pinned
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())["packages"]
    assert all(lock[f"node_modules/{name}"]["integrity"].startswith("sha512-") for name in pinned)
    spec = importlib.util.spec_from_file_location("vendor_web", ROOT / "scripts" / "vendor_web.py")
    vendor_web = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vendor_web)
    bundle = (vendor / "tasks-vision" / "vision_bundle.mjs").read_text()
    old, new = vendor_web.METRICS_FLUSH
    assert new in bundle and old not in bundle  # MediaPipe's metrics logger drops its records

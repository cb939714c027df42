"""Device mode's JavaScript twin against the Python steps it mirrors, in headless Chromium: the mesh tables, the OpenCV
operations, the eye events, and whole answers (the page's device mode against the Python Recognizer) on the fixture
faces, FER-2013 test faces and the eye set's photos. The targets are the issue's: the same number of faces on
>= 97 % of images, the same expression on >= 95 % of the faces both found, the same eye state on >= 93 % of eyes."""
import base64
import json

import numpy as np
import pytest
from PIL import Image

from bench.common import fer_sample as fer_test_sample
from bench.device import eye_photos, open_device_page, parity_of
from meshfer import mesh
from tests.device_fixtures import console_errors, device_browser, static_site  # noqa: F401 (fixtures)

TARGETS = {"same_face_count": 0.97, "same_expression": 0.95, "same_eye_state": 0.93}


@pytest.fixture(scope="module")
def page(device_browser, static_site):  # noqa: F811
    open_device_page(device_browser, static_site.url)
    return device_browser


def in_page(browser, body: str, *args):
    """Run an async function body in the page (``args`` as ``args``, the device modules importable by name) and return
    its JSON-able result."""
    script = """
const done = arguments[arguments.length - 1];
const args = Array.from(arguments).slice(0, -1);
const load = (name) => import(new URL(`static/device/${name}.js`, document.baseURI).href);
(async () => { %s })().then((v) => done(JSON.stringify(v)), (e) => done(JSON.stringify({error: String(e)})));
""" % body
    result = json.loads(browser.execute_async_script(script, *args))
    assert not (isinstance(result, dict) and "error" in result), result
    return result


def test_the_twin_reads_pythons_mesh_tables_and_computes_pythons_feature_versions(page):
    from meshfer.device_site import MESH_TABLES
    from meshfer.features import FEATURES

    js = in_page(page, """
const page = await import(new URL("static/device/page.js", document.baseURI).href);
await page.recognizer(document.getElementById("approach").value);
const features = await load('features');
return {mesh: {...(await load('mesh')).mesh},
        versions: Object.fromEntries(Object.values(features.FEATURES).map((k) => [k.name, k.version]))};
""")
    assert js["mesh"] == json.loads(json.dumps({name: getattr(mesh, name) for name in MESH_TABLES}))
    assert {"aligned_face", "aligned_mesh", "mesh_nodes", "eyes"} <= set(js["versions"])
    assert js["versions"] == {name: FEATURES[name].version for name in js["versions"]}


# cv2's operations and their twins in imageops.js on the same pixels: exact where OpenCV is exact, at most one gray
# level off where it rounds (cubic weights at exact halves, the float Gaussian, the area weights).
OPERATIONS = """
const ops = await load('imageops');
const [b64, width, height] = args;
const bytes = Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
const rgb = ops.image(width, height, 3, bytes);
const out = (img) => Array.from(img.data);
const turn = [0.55 * Math.cos(0.3), -0.55 * Math.sin(0.3), 4.2, 0.55 * Math.sin(0.3), 0.55 * Math.cos(0.3), -9.7];
return {
  constant: out(ops.copyMakeBorder(rgb, 7, 'constant')), replicate: out(ops.copyMakeBorder(rgb, 7, 'replicate')),
  reflect: out(ops.copyMakeBorder(rgb, 7, 'reflect')), cubic: out(ops.resizeCubic(rgb, 256, 213)),
  area: out(ops.resizeArea(rgb, 41, 33)), warp: out(ops.warpAffine(rgb, turn, 48, 48)),
  gray: out(ops.rgbToGray(rgb)), blur: out(ops.gaussianBlur(rgb, 1.0)),
};
"""


def test_the_image_operations_are_opencvs(page, photo):
    import cv2

    rgb = np.asarray(Image.open(photo).convert("RGB").crop((150, 50, 246, 130)))
    js = in_page(page, OPERATIONS, base64.b64encode(rgb.tobytes()).decode(), rgb.shape[1], rgb.shape[0])
    turn = np.array([[0.55 * np.cos(0.3), -0.55 * np.sin(0.3), 4.2], [0.55 * np.sin(0.3), 0.55 * np.cos(0.3), -9.7]])
    expected = {
        "constant": cv2.copyMakeBorder(rgb, 7, 7, 7, 7, cv2.BORDER_CONSTANT, value=(0, 0, 0)),
        "replicate": cv2.copyMakeBorder(rgb, 7, 7, 7, 7, cv2.BORDER_REPLICATE),
        "reflect": cv2.copyMakeBorder(rgb, 7, 7, 7, 7, cv2.BORDER_REFLECT_101),
        "cubic": cv2.resize(rgb, (256, 213), interpolation=cv2.INTER_CUBIC),
        "area": cv2.resize(rgb, (41, 33), interpolation=cv2.INTER_AREA),
        "warp": cv2.warpAffine(rgb, turn, (48, 48), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        "gray": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
        "blur": cv2.GaussianBlur(rgb, (0, 0), 1.0),
    }
    for name, want in expected.items():
        got = np.asarray(js[name]).reshape(want.shape)
        difference = np.abs(got - want.astype(int))
        exact = name in ("constant", "replicate", "reflect", "gray", "warp")
        assert difference.max() <= (0 if exact else 1), (name, difference.max())
        assert (difference == 0).mean() >= 0.97, (name, (difference == 0).mean())


EYE_EVENTS = """
const { eyeEvents } = await load('eye_events');
return args[0].map(([times, left, right]) => eyeEvents(times, left, right));
"""


def test_the_eye_events_are_pythons(page):
    from meshfer.eye_events import eye_events

    rng = np.random.default_rng(7)
    states = ["wide", "open", "narrowed", "closed", None]
    sequences = []
    for _ in range(60):
        n = int(rng.integers(1, 120))
        times = np.cumsum(rng.choice([33, 34, 40, 200], size=n, p=[0.45, 0.45, 0.05, 0.05])).tolist()
        # runs of states, as a camera sees them: mostly open, closures of a few frames, gaps without a face
        left = [states[int(k)] for k in np.repeat(rng.choice(5, size=n, p=[.1, .5, .1, .25, .05]),
                                                  rng.integers(1, 25, size=n))[:n]]
        right = [s if rng.random() < 0.9 else states[int(rng.integers(0, 4))] for s in left]
        right = [None if a is None else b for a, b in zip(left, right)]
        sequences.append([times, left, right])
    js = in_page(page, EYE_EVENTS, sequences)
    python = [json.loads(json.dumps(eye_events(*sequence))) for sequence in sequences]
    assert sum(p["blinks"] for p in python) > 5 and sum(len(p["closures"]) for p in python) > 5  # a real check
    assert js == python


def assert_parity(figures: dict) -> None:
    print(json.dumps(figures))
    assert figures["device_errors"] == 0, figures["first_error"]
    assert figures["faces_both"] > 0
    for key, target in TARGETS.items():
        assert figures[key] >= target, (key, figures)


def test_the_page_answers_as_python_on_the_fixture_faces(page, static_site, face_images, two_faces,  # noqa: F811
                                                          tmp_path):
    Image.fromarray(two_faces).save(tmp_path / "two_faces.png")
    figures = parity_of(page, static_site, [*face_images, tmp_path / "two_faces.png"])
    assert_parity(figures)
    assert figures["faces_python"] == figures["faces_device"] == len(face_images) + 2
    assert figures["same_expression"] == 1.0 and figures["max_probability_difference"] < 0.05
    assert console_errors(page) == []


def test_the_page_answers_as_python_on_fer2013_test_faces(page, static_site, fer_root, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MESHFER_DATA", str(fer_root))
    files = fer_test_sample(per_label=43)  # 301 faces, the first of each label by name
    assert len(files) >= 280
    assert_parity(parity_of(page, static_site, files))


def test_the_page_answers_as_python_on_the_eye_photos(page, static_site, eyes_root, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MESHFER_EYES_DATA", str(eyes_root))
    files = eye_photos(per_label=40)  # UTKFace (wide, open, narrowed) and CEW (closed)
    assert len(files) >= 140
    assert_parity(parity_of(page, static_site, files))

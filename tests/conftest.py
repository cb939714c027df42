"""Shared fixtures. Tests run on the public-domain photos in tests/fixtures (and images made from them) wherever
they can; only those about the research datasets need FER-2013 or the eye set. Without a dataset they are skipped
with the reason shown; with MESHFER_REQUIRE_DATA=1 (as CI sets it) a missing dataset is a failure instead."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import meshfer  # noqa: F401  (the logging environment, before TensorFlow or MediaPipe load)

# Some tests press Ctrl-C on a child (SIGINT). A test run started as a background job of a shell (`make test &`,
# a CI runner's detached job) has SIGINT ignored, and an ignored signal stays ignored through exec, so the children
# would not see it. A handler (unlike an ignore) is reset to the default at exec: the children behave as from a
# terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = sorted((FIXTURES / "faces").glob("*.jpg"))
REQUIRE_DATA = os.environ.get("MESHFER_REQUIRE_DATA") == "1"
REQUIRE_BROWSER = os.environ.get("MESHFER_REQUIRE_BROWSER") == "1"
# With MESHFER_NO_SKIPS=1 (as .ci/run sets it) a skipped test fails, unless its reason starts with one of these: the
# one list of what CI may leave out, each with why.
ACCEPTED_SKIPS: dict[str, str] = {}
NO_SKIPS = os.environ.get("MESHFER_NO_SKIPS") == "1"
# Fixtures whose tests are slow whatever they assert (a whole pipeline run): such a test is marked `slow` for them.
SLOW_FIXTURES = {"pipeline_project"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, a skipped test is a failure unless its reason is accepted (ACCEPTED_SKIPS)."""
    _fail_unaccepted_skip((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while it is collected (``pytest.importorskip`` at its top)."""
    _fail_unaccepted_skip((yield).get_result())


def _fail_unaccepted_skip(report) -> None:
    if not (NO_SKIPS and report.skipped and not hasattr(report, "wasxfail")):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not any(reason.startswith(accepted) for accepted in ACCEPTED_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ({reason}); MESHFER_NO_SKIPS=1 accepts only tests/conftest.py ACCEPTED_SKIPS"


def dataset_root(name: str, env: str) -> Path:
    for candidate in (os.environ.get(env), ROOT / "data" / "raw" / name, ROOT.parent / "shared" / "datasets" / name):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    reason = f"needs the {name} dataset (research use, not in the repository): set {env} or run `make data`"
    if REQUIRE_DATA:
        pytest.fail(f"{reason} (MESHFER_REQUIRE_DATA=1 makes a missing dataset a failure)")
    pytest.skip(reason)


def missing_browser(reason: str):
    """Skip a real-browser test whose browser (or driver) is not installed; with MESHFER_REQUIRE_BROWSER=1 (as CI
    sets it where Chromium is installed) fail instead."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (MESHFER_REQUIRE_BROWSER=1 makes a missing browser a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fer_root() -> Path:
    return dataset_root("fer2013", "MESHFER_DATA")


@pytest.fixture(scope="session")
def eyes_root() -> Path:
    return dataset_root("eyes", "MESHFER_EYES_DATA")


@pytest.fixture(scope="session")
def eyes_fer_root() -> Path:
    return dataset_root("eyes_fer", "MESHFER_EYES_FER_DATA")


@pytest.fixture(scope="session")
def fer_sample(fer_root) -> list[Path]:
    """A fixed sample: the first 3 files (by name) of every label in train and test."""
    files = []
    for part in ("train", "test"):
        for label_dir in sorted((fer_root / part).iterdir()):
            files.extend(sorted(label_dir.glob("*.jpg"))[:3])
    return files


# --- faces that need no dataset --------------------------------------------------------------------------------
# Square boxes around each fixture face (x0, y0, side), for crops like FER-2013's: tight, gray, 48 px.
FACE_BOXES = {"eileen_collins": (165, 60, 125), "grace_hopper": (160, 130, 205)}


@pytest.fixture(scope="session")
def photo() -> Path:
    """A colour portrait, 512 px: an ordinary photo with one face."""
    return FIXTURES / "faces" / "eileen_collins.jpg"


def fer_like_crop(path: Path, size: int = 48) -> Image.Image:
    x0, y0, side = FACE_BOXES[path.stem]
    return Image.open(path).convert("L").crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BICUBIC)


@pytest.fixture(scope="session")
def face_dir(tmp_path_factory) -> Path:
    """Faces made from the fixture photos: each photo, and a 48 px gray crop of it (FER-2013-like)."""
    folder = tmp_path_factory.mktemp("faces")
    for path in PHOTOS:
        shutil.copy(path, folder / path.name)
        fer_like_crop(path).save(folder / f"{path.stem}_48.png")
    return folder


@pytest.fixture(scope="session")
def mini_fer(tmp_path_factory) -> Path:
    """A tiny dataset in FER-2013's Kaggle layout made from the fixture faces (train/<label>/Training_*.jpg,
    test/<label>/PublicTest_*.jpg and PrivateTest_*.jpg; every file different). Its labels mean nothing: it is
    for tests of layouts, splits and file handling."""
    from meshfer.labels import EXPRESSIONS

    root = tmp_path_factory.mktemp("mini fer")
    crops = [fer_like_crop(p, 64) for p in PHOTOS]
    n = 0
    for part, prefixes in (("train", ["Training"] * 3), ("test", ["PublicTest", "PrivateTest", "PrivateTest"])):
        for label in EXPRESSIONS:
            for prefix in prefixes:
                n += 1
                face = crops[n % 2].rotate(n * 2.5 - 20, resample=Image.BILINEAR).crop((8, 8, 56, 56))
                (root / part / label).mkdir(parents=True, exist_ok=True)
                face.point(lambda v, k=n: min(255, v + k % 7)).save(root / part / label / f"{prefix}_{n:05d}.jpg")
    return root


@pytest.fixture(scope="session")
def mini_fer_sample(mini_fer) -> list[Path]:
    return sorted(mini_fer.rglob("*.jpg"))


@pytest.fixture(scope="session")
def face_image(face_dir) -> Path:
    """A 48 x 48 gray face crop, as FER-2013 has them."""
    return face_dir / "eileen_collins_48.png"


@pytest.fixture(scope="session")
def face_images(face_dir) -> list[Path]:
    return sorted(face_dir.iterdir())


@pytest.fixture(scope="session")
def two_faces() -> np.ndarray:
    """A picture of two people: both fixture portraits' heads side by side, each about 40 % of the width."""
    heads = []
    for path in PHOTOS:
        x0, y0, side = FACE_BOXES[path.stem]
        margin = side // 2
        head = Image.open(path).convert("RGB").crop((x0 - margin, y0 - margin, x0 + side + margin, y0 + side + margin))
        heads.append(np.asarray(head.resize((240, 240))))
    return np.hstack([heads[0], np.full((240, 40, 3), 90, np.uint8), heads[1]])


@pytest.fixture(scope="session")
def landmarker():
    from meshfer.landmarker import Landmarker

    with Landmarker() as lm:
        yield lm


@pytest.fixture
def blank_png(tmp_path) -> Path:
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(path)
    return path


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """An MJPG .avi of RGB frames (every OpenCV build writes it)."""
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def run_cli(*args, timeout: int = 300):
    proc = subprocess.run([sys.executable, "-m", "meshfer.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


# --- the pipeline on a small subset ----------------------------------------------------------------------------
def run_ok(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory, fer_root, eyes_root, eyes_fer_root):
    """The whole pipeline on the quick subset, run as `make quick` runs it (the DVC experiment `quick`, on top of
    the committed params.yaml, in a temporary copy), in a copy of this repository, then applied to its workspace."""
    dest = tmp_path_factory.mktemp("project")
    env = copy_checkout(dest, {"fer2013": fer_root, "eyes": eyes_root, "eyes_fer": eyes_fer_root})
    run_ok(["git", "commit", "-qm", "full params, as a user's clone has them"], dest, env)
    first = run_ok([sys.executable, "scripts/quick.py"], dest, env)  # `make quick`, without the venv step
    # The quick look runs in a temporary copy: nothing tracked changes. The tests read its outputs, so they take
    # them into this copy's workspace as a user would (`dvc exp apply quick`).
    changed = run_ok(["git", "status", "--porcelain", "--untracked-files=no"], dest, env)
    assert changed == "", f"make quick changed tracked files:\n{changed}"
    run_ok([sys.executable, "-m", "dvc", "exp", "apply", "quick"], dest, env)
    return dest, env, first


def copy_checkout(dest: Path, datasets: dict[str, Path]) -> dict[str, str]:
    """This repository's files (not its data, models, metrics or dvc.lock) in a new git repository at ``dest``,
    with data/raw/<name> linked to each dataset and everything staged; returns the environment to run it with."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        src = ROOT / rel
        if rel.startswith(("data/", "models/", "metrics/")) or rel == "dvc.lock" or not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    (dest / "data" / "raw").mkdir(parents=True)
    for name, root in datasets.items():
        os.symlink(root.resolve(), dest / "data" / "raw" / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "160"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    run_ok(["git", "init", "-q"], dest, env)
    run_ok(["git", "add", "-A"], dest, env)
    return env


# --- JSON schemas ------------------------------------------------------------------------------------------------
def schema_validator(name: str, definition: str | None = None):
    """A validator for meshfer/schemas/<name> (or one of its $defs), resolving the references between the files."""
    import json
    from importlib import resources

    import jsonschema
    import referencing

    folder = resources.files("meshfer") / "schemas"
    schemas = {p.name: json.loads(p.read_text()) for p in folder.iterdir() if p.name.endswith(".json")}
    registry = referencing.Registry().with_resources(
        (s["$id"], referencing.Resource.from_contents(s)) for s in schemas.values())
    schema = schemas[name]
    if definition:
        schema = {"$ref": f"{schema['$id']}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)

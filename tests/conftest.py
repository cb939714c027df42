import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import meshfer  # noqa: F401  (environment for TensorFlow/MediaPipe before anything imports them)

ROOT = Path(__file__).resolve().parents[1]


def dataset_root(name: str, env: str) -> Path:
    for candidate in (os.environ.get(env), ROOT / "data" / "raw" / name, ROOT.parent / "shared" / "datasets" / name):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.fail(f"the {name} dataset is needed by the tests: run `make data` or set {env}")


@pytest.fixture(scope="session")
def fer_root() -> Path:
    return dataset_root("fer2013", "MESHFER_DATA")


@pytest.fixture(scope="session")
def eyes_root() -> Path:
    return dataset_root("eyes", "MESHFER_EYES_DATA")


@pytest.fixture(scope="session")
def fer_sample(fer_root) -> list[Path]:
    """A fixed sample: the first 3 files (by name) of every label in train and test."""
    files = []
    for part in ("train", "test"):
        for label_dir in sorted((fer_root / part).iterdir()):
            files.extend(sorted(label_dir.glob("*.jpg"))[:3])
    return files


@pytest.fixture(scope="session")
def face_image(fer_root) -> Path:
    return sorted((fer_root / "test" / "happy").glob("PrivateTest_*.jpg"))[0]


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


def run_ok(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def subset_params(params: dict) -> dict:
    for name in ("fer", "eyes"):
        params["datasets"][name]["max_per_label"] = 10
        params["datasets"][name]["landmarks"]["chunk_size"] = 32
    params["datasets"]["fer"]["augment"]["target_per_class"] = 14
    for approach in params["approaches"]:
        model = params[approach]["model"]
        if model.get("pca_components"):
            model.update(pca_components=min(20, model["pca_components"]))
    params["gnn"]["model"].update(epochs=1, channels=[8], dense_units=16)
    params["mesh_hgb"]["model"].update(max_iter=20)
    params["aligned_cnn"]["model"].update(epochs=1, filters=[4, 8], dense_units=16)
    return params


@pytest.fixture(scope="session")
def pipeline_project(tmp_path_factory, fer_root, eyes_root):
    dest = tmp_path_factory.mktemp("project")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        src = ROOT / rel
        if rel.startswith(("data/", "models/", "metrics/")) or rel == "dvc.lock" or not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    (dest / "data" / "raw").mkdir(parents=True)
    os.symlink(fer_root.resolve(), dest / "data" / "raw" / "fer2013")
    os.symlink(eyes_root.resolve(), dest / "data" / "raw" / "eyes")
    params = subset_params(yaml.safe_load((dest / "params.yaml").read_text()))
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    run_ok(["git", "init", "-q"], dest, env)
    run_ok(["git", "add", "-A"], dest, env)
    run_ok(["git", "commit", "-qm", "subset"], dest, env)
    first = run_ok([sys.executable, "-m", "dvc", "repro"], dest, env)
    return dest, env, first

import os
from pathlib import Path

import numpy as np
import pytest
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

"""Bad input at every public entry point: a clear error or a documented empty result, and nothing else lost."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from meshfer.training.config import load_params
from meshfer.training.datasets import read_dataset
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def fer_params():
    return load_params(ROOT / "params.yaml")["datasets"]["fer"]


def test_label_entry_that_is_a_file_and_symlink_loop(tmp_path, mini_fer_sample, fer_params):
    root = tmp_path / "données fer"
    for src in mini_fer_sample:
        target = root / src.parts[-3] / src.parts[-2] / f"é {src.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    shutil.rmtree(root / "test" / "fear")
    (root / "test" / "fear").write_text("a file where a folder should be")
    os.symlink(root / "train", root / "train" / "happy" / "loop")  # a symlink loop inside a label folder
    manifest, report = read_dataset(root, fer_params, tmp_path / "out")
    assert report.to_dict()["label_entries_not_folders"] == ["test/fear"]
    assert len(manifest) == len(mini_fer_sample) - 3
    assert manifest["path"].str.contains("é ").all()


def test_huge_gray_image_gives_empty_result_not_a_crash(tmp_path):
    from meshfer.landmarker import Landmarker

    path = tmp_path / "huge.png"
    Image.fromarray(np.zeros((10000, 10000), np.uint8)).save(path)
    with Landmarker() as landmarker:
        assert landmarker.detect(path) == []


@pytest.mark.parametrize("make", ["truncated_png", "zero_bytes", "cmyk", "palette", "sixteen_bit", "one_pixel"])
def test_cli_on_odd_images(tmp_path, face_image, make):
    path = tmp_path / "odd dir ü" / f"{make}.{'jpg' if make == 'cmyk' else 'png'}"
    path.parent.mkdir()
    gray = Image.open(face_image).convert("L")
    if make == "truncated_png":
        gray.save(path)
        path.write_bytes(path.read_bytes()[:150])
    elif make == "zero_bytes":
        path.write_bytes(b"")
    elif make == "cmyk":
        gray.convert("CMYK").save(path)
    elif make == "palette":
        gray.convert("P").save(path)
    elif make == "sixteen_bit":
        Image.fromarray(np.asarray(gray).astype(np.uint16) * 257).save(path)
    else:
        Image.new("L", (1, 1)).save(path)
    code, out, err = run_cli("predict", path, face_image, "--no-eyes", "--json")
    records = json.loads(out)
    assert "Traceback" not in err
    assert any(r["path"] == str(face_image) and r["expression"] for r in records)  # the good image survives
    mine = [r for r in records if r["path"] == str(path)]
    if make in ("truncated_png", "zero_bytes"):
        assert code == 1 and mine[0]["error"] and f"{path}:" in err
    elif make == "one_pixel":
        assert code == 0 and mine[0]["error"] == "no face found"
    else:
        assert code == 0 and mine[0]["expression"], mine


def test_cli_wrong_landmarker_file(tmp_path, face_image):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"not a model")
    code, _, err = run_cli("predict", face_image, "--landmarker", bad)
    assert code == 2 and "SHA-256" in err and str(bad) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

"""`make promote`, the only way the package's models change, end to end: a complete run (every dataset in full,
`max_per_label: 0`) on a tiny fixture dataset in a temporary project ships exactly what its dvc.lock records; a run
that is out of date, or whose dvc.lock was recorded from a subset, ships nothing."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.conftest import PHOTOS, fer_like_crop, run_ok, copy_checkout

pytestmark = pytest.mark.slow
PACKAGE_MODELS = Path("meshfer") / "assets" / "models"
EXPRESSION = ["mesh_svm", "blendshape_svm"]  # two quick models for the ensemble; no network to train
BUNDLED = [*EXPRESSION, "ensemble", "eyes"]


@pytest.fixture(scope="module")
def mini_eyes(tmp_path_factory) -> Path:
    """A tiny eye set in its folder layout (eye_<state>/*.png), six faces a state, made from the fixture photos."""
    root = tmp_path_factory.mktemp("mini eyes")
    crops = [fer_like_crop(p, 96) for p in PHOTOS]
    for k, state in enumerate(("wide", "open", "narrowed", "closed")):
        (root / f"eye_{state}").mkdir()
        for i in range(6):
            n = 6 * k + i
            face = crops[n % 2].rotate(n * 1.5 - 18, resample=Image.BILINEAR)
            face.point(lambda v, n=n: min(255, v + n % 9)).save(root / f"eye_{state}" / f"face_{n:02d}.png")
    return root


def tiny_params(params: dict) -> dict:
    """params.yaml for the fixture datasets: in full (max_per_label 0), no copies made, models sized for a few
    dozen faces, and only quick approaches."""
    params = {key: value for key, value in params.items() if key in ("datasets", "ensemble", "serving", "eyes",
                                                                       *EXPRESSION)}
    params["approaches"] = {**{a: "fer" for a in EXPRESSION}, "eyes": "eyes"}
    params["datasets"]["fer"]["augment"]["target_per_class"] = 0
    params["datasets"]["eyes"]["more_roots"] = []
    for dataset in params["datasets"].values():
        assert dataset["max_per_label"] == 0
        dataset["landmarks"]["chunk_size"] = 16
    params["mesh_svm"]["model"]["pca_components"] = 5
    params["eyes"]["model"]["pca_components"] = 5
    params["ensemble"].update(candidates=EXPRESSION, combiners=["mean"], folds=2)
    params["serving"]["bundled"] = BUNDLED
    return params


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory, mini_fer, mini_eyes):
    """The whole pipeline on the tiny datasets, in a copy of this repository: `dvc repro`, nothing promoted yet."""
    dest = tmp_path_factory.mktemp("tiny") / "project"
    dest.mkdir()
    env = copy_checkout(dest, {"fer2013": mini_fer, "eyes": mini_eyes})
    params = tiny_params(yaml.safe_load((dest / "params.yaml").read_text()))
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_ok([sys.executable, "scripts/stage_deps.py", "write"], dest, env)  # `make stage-deps`: other approaches
    run_ok(["git", "commit", "-qam", "tiny complete dataset"], dest, env)
    run_ok([sys.executable, "-m", "dvc", "repro"], dest, env)
    return dest, env


@pytest.fixture
def project(complete_run, tmp_path):
    """A copy of the complete run for one test (which may change it)."""
    source, env = complete_run
    dest = tmp_path / "project"
    shutil.copytree(source, dest, symlinks=True)
    return dest, env


def make_promote(project) -> subprocess.CompletedProcess:
    """`make promote`, with this test run's venv (marked up to date: nothing is installed)."""
    dest, env = project
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "-o", f"{venv}/.installed", "promote", f"VENV={venv}"], cwd=dest, env=env,
                          capture_output=True, text=True, timeout=600)


def package_files(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted((dest / PACKAGE_MODELS).rglob("*")) if p.is_file()}


def locked_files(dest: Path, approach: str) -> dict[str, str]:
    """What dvc.lock records for bundle@<approach>'s output: file name -> MD5, from the run's cache."""
    lock = yaml.safe_load((dest / "dvc.lock").read_text())
    (out,) = lock["stages"][f"bundle@{approach}"]["outs"]
    digest = out["md5"].removesuffix(".dir")
    listing = json.loads((dest / ".dvc" / "cache" / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir").read_text())
    return {entry["relpath"]: entry["md5"] for entry in listing}


def test_a_complete_run_ships_what_its_dvc_lock_records(project):
    dest, _ = project
    proc = make_promote(project)
    assert proc.returncode == 0, proc.stderr
    assert f"promote: {', '.join(BUNDLED)} -> {PACKAGE_MODELS}" in proc.stdout
    shipped = sorted(p.name for p in (dest / PACKAGE_MODELS).iterdir())
    assert shipped == sorted([*BUNDLED, "serving.json"])
    for approach in BUNDLED:
        files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (dest / PACKAGE_MODELS / approach).iterdir()}
        assert files == locked_files(dest, approach), approach
        assert {"card.json", "fingerprint.json", "fingerprint.npz"} <= set(files), approach
    default = json.loads((dest / PACKAGE_MODELS / "serving.json").read_text())["default_approach"]
    assert default in [*EXPRESSION, "ensemble"]


def test_a_stale_run_ships_nothing(project):
    dest, env = project
    before = package_files(dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["mesh_svm"]["model"]["C"] = 4  # changed after the run: train@mesh_svm is out of date
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = make_promote(project)
    assert proc.returncode != 0 and proc.stderr.count("promote:") == 1, proc.stderr
    assert "not up to date" in proc.stderr and "train@mesh_svm" in proc.stderr, proc.stderr
    assert package_files(dest) == before


def test_a_lock_recorded_from_a_subset_ships_nothing(project):
    dest, _ = project
    before = package_files(dest)
    lock_path = dest / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    lock["stages"]["prepare@eyes"]["params"]["params.yaml"]["datasets.eyes.max_per_label"] = 5
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))
    proc = make_promote(project)
    assert proc.returncode != 0, proc.stderr
    assert "not a full-data run: datasets.eyes.max_per_label is 5 in dvc.lock" in proc.stderr, proc.stderr
    assert package_files(dest) == before

"""The whole DVC pipeline on a small, fixed subset chosen through params: what `dvc repro` does for a user."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

APPROACHES = ("pca_svm", "blendshape_svm", "gnn", "eyes")


def _run(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def subset_params(params: dict) -> dict:
    for name in ("fer", "eyes"):
        params["datasets"][name]["max_per_label"] = 10
        params["datasets"][name]["landmarks"]["chunk_size"] = 32
    params["datasets"]["fer"]["augment"]["target_per_class"] = 14
    for approach in ("pca_svm", "blendshape_svm"):
        params[approach]["model"].update(calibration_folds=3, pca_components=min(20, params[approach]["model"]
                                                                                  ["pca_components"]))
    params["gnn"]["model"].update(epochs=1, channels=[8], dense_units=16)
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory, fer_root, eyes_root):
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
    _run(["git", "init", "-q"], dest, env)
    _run(["git", "add", "-A"], dest, env)
    _run(["git", "commit", "-qm", "subset"], dest, env)
    first = _run([sys.executable, "-m", "dvc", "repro"], dest, env)
    return dest, env, first


def test_every_approach_produces_metrics_models_and_plots(project):
    dest, _, _ = project
    for approach in APPROACHES:
        metrics = json.loads((dest / "metrics" / f"{approach}.json").read_text())
        for split in ("validation", "test"):
            m = metrics[split]
            assert 0 <= m["accuracy"] <= 1 and 0 <= m["no_face_rate"] <= 1 and m["images"] > 0
            assert m["accuracy"] <= m["detected_accuracy"] + 1e-9  # no-face images only ever lower it
        card = json.loads((dest / "models" / approach / "card.json").read_text())
        assert card["labels"] and card["feature_version"] >= 1 and card["data"]["train_faces"] > 0
        assert (dest / "metrics" / "confusion" / f"{approach}.csv").read_text().startswith("actual,predicted")
        assert (dest / "metrics" / "confusion" / f"{approach}.png").stat().st_size > 0
    assert "mae_steps" in json.loads((dest / "metrics" / "eyes.json").read_text())["test"]
    assert (dest / "metrics" / "training" / "gnn" / "plots" / "metrics").is_dir()


def test_augmented_copies_stay_in_train(project):
    import pandas as pd

    dest, _, _ = project
    manifest = pd.read_parquet(dest / "data" / "fer" / "augmented" / "manifest.parquet")
    assert manifest["augmented"].any()
    assert set(manifest.loc[manifest["augmented"], "split"]) == {"train"}
    originals = manifest.loc[~manifest["augmented"]]
    assert set(manifest.loc[manifest["augmented"], "source"]) <= set(originals.loc[originals.split == "train",
                                                                                   "source"])


def test_second_repro_is_a_no_op(project):
    dest, env, _ = project
    out = _run([sys.executable, "-m", "dvc", "repro"], dest, env)
    assert "Running stage" not in out and "up to date" in out


def test_metrics_show_lists_all_approaches(project):
    dest, env, _ = project
    out = _run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], dest, env)
    shown = json.dumps(json.loads(out))
    for approach in APPROACHES:
        assert f"metrics/{approach}.json" in shown

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from meshfer.training.datasets import DatasetError, read_dataset, stratified_group_split
from meshfer.training.config import load_params
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def fer_params():
    return load_params(ROOT / "params.yaml")["datasets"]["fer"]


def _copy_tree(mini_fer_sample, dest, flat=False):
    for src in mini_fer_sample:
        part, label = src.parts[-3], src.parts[-2]
        target = dest / (f"face_{label}" if flat else f"{part}/{label}") / src.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)


def test_kaggle_layout_uses_file_name_usage(tmp_path, mini_fer_sample, fer_params):
    _copy_tree(mini_fer_sample, tmp_path / "fer")
    manifest, report = read_dataset(tmp_path / "fer", fer_params, tmp_path / "out")
    assert report.layout == "train_test_folders"
    assert len(manifest) == len(mini_fer_sample)
    for row in manifest.itertuples():
        name = row.path.rsplit("/", 1)[-1]
        expected = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}[name.split("_")[0]]
        assert row.split == expected
    assert set(manifest["label"]) == {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    assert (manifest[["width", "height"]] == 48).all().all()


def test_bad_folders_and_files_are_reported_not_fatal(tmp_path, mini_fer_sample, fer_params):
    root = tmp_path / "fer"
    _copy_tree(mini_fer_sample, root)
    (root / "train" / "contempt").mkdir()  # unknown label
    (root / "train" / "contempt" / "a.jpg").write_bytes(b"x")
    shutil.rmtree(root / "test" / "sad")
    (root / "test" / "sad").mkdir()  # empty label folder
    (root / "train" / "happy" / "notes.jpg").write_text("not an image")
    good = next((root / "train" / "angry").glob("*.jpg"))
    (root / "train" / "angry" / "cut.jpg").write_bytes(good.read_bytes()[:200])
    (root / "train" / "fear" / "README.txt").write_text("ignored")
    manifest, report = read_dataset(root, fer_params, tmp_path / "out")
    summary = report.to_dict()
    assert summary["unknown_folders"] == ["train/contempt"]
    assert summary["empty_folders"] == ["test/sad"]
    assert set(summary["unreadable"]) == {str(root / "train/happy/notes.jpg"), str(root / "train/angry/cut.jpg")}
    assert summary["ignored_files"] == 1
    assert len(manifest) == len(mini_fer_sample) - 3  # the 3 test/sad files removed; the bad ones listed, not kept


def test_flat_seed_layout_gets_stratified_split(tmp_path, mini_fer_sample, fer_params):
    _copy_tree(mini_fer_sample, tmp_path / "seed", flat=True)
    manifest, report = read_dataset(tmp_path / "seed", fer_params, tmp_path / "out")
    assert report.layout == "label_folders"
    assert set(manifest["split"]) <= {"train", "validation", "test"}
    assert manifest.groupby("label")["split"].apply(lambda s: (s == "train").sum() >= 3).all()
    again, _ = read_dataset(tmp_path / "seed", fer_params, tmp_path / "out")
    pd.testing.assert_frame_equal(manifest, again)  # seeded: the same split every time


def test_fer_csv_layout(tmp_path, fer_params):
    rng = np.random.default_rng(0)
    rows = [(code, " ".join(map(str, rng.integers(0, 255, 48 * 48))), usage)
            for code, usage in [(0, "Training"), (3, "PublicTest"), (6, "PrivateTest"), (9, "Training")]]
    rows.append((2, "1 2 3", "Training"))  # not a square image
    pd.DataFrame(rows, columns=["emotion", "pixels", "Usage"]).to_csv(tmp_path / "fer2013.csv", index=False)
    manifest, report = read_dataset(tmp_path, fer_params, tmp_path / "out")
    assert report.layout == "fer_csv"
    assert manifest[["label", "split"]].values.tolist() == [
        ["angry", "train"], ["happy", "validation"], ["neutral", "test"]]
    assert report.to_dict()["unknown_folders"] == ["emotion=9"] and len(report.unreadable) == 1
    assert Image.open(manifest["path"][0]).size == (48, 48)


def test_missing_root_and_unknown_layout(tmp_path, fer_params):
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(tmp_path / "nothing", fer_params, tmp_path / "out")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="none of the known layouts"):
        read_dataset(tmp_path, fer_params, tmp_path / "out")


def test_group_split_keeps_sources_together():
    labels = pd.Series(["a"] * 40 + ["b"] * 40)
    groups = pd.Series([f"g{i // 4}" for i in range(80)])
    split = stratified_group_split(labels, groups, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=1)
    assert (pd.DataFrame({"g": groups, "s": split}).groupby("g")["s"].nunique() == 1).all()
    assert split.value_counts().to_dict() == {"train": 48, "validation": 16, "test": 16}


def test_subset_is_fixed_per_label(tmp_path, mini_fer_sample, fer_params):
    _copy_tree(mini_fer_sample, tmp_path / "fer")
    manifest, _ = read_dataset(tmp_path / "fer", {**fer_params, "max_per_label": 1}, tmp_path / "out")
    assert manifest.groupby(["split", "label"]).size().max() == 1


def _eye_root(root, mini_fer_sample, prefix: str, sources: list[str] | None = None):
    """A label-folder root of eye states made from the fixture crops (labels mean nothing), with labels.csv."""
    rows = []
    for i, src in enumerate(mini_fer_sample[:24]):
        label = ("wide", "open", "narrowed", "closed")[i % 4]
        rel = f"eye_{label}/{prefix}_{i:02d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
        rows.append((rel, label, sources[i] if sources else f"train/x/Training_{prefix}{i}.jpg"))
    pd.DataFrame(rows, columns=["file", "label", "source_path"]).to_csv(root / "labels.csv", index=False)


def test_several_roots_are_split_each_on_its_own_and_fer_test_faces_never_enter(tmp_path, mini_fer_sample):
    import subprocess
    import sys

    import yaml

    project = tmp_path / "project"
    (project / "stages").mkdir(parents=True)
    _eye_root(project / "a", mini_fer_sample, "a")
    fer_sources = [f"train/happy/Training_{i}.jpg" for i in range(24)]
    fer_sources[3], fer_sources[7] = "test/happy/PrivateTest_1.jpg", "train/sad/PublicTest_2.jpg"
    _eye_root(project / "b", mini_fer_sample, "b", fer_sources)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    eyes = params["datasets"]["eyes"]
    eyes["root"] = "a"
    eyes["more_roots"] = [{"root": "b", "root_env": "B", "where_to_get_it": "-"}]  # no same-photo pairs file here
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"PYTHONPATH": str(ROOT), "PATH": ""}
    for stage in ("locate", "prepare"):
        proc = subprocess.run([sys.executable, "-m", f"stages.{stage}", "eyes"], cwd=project, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    manifest = pd.read_parquet(project / "data" / "eyes" / "prepared" / "manifest.parquet")
    report = yaml.safe_load((project / "data" / "eyes" / "prepared" / "report.json").read_text())
    from_b = manifest["path"].str.startswith("b/")
    assert from_b.sum() == 22 and (~from_b).sum() == 24  # two FER test faces left out of b
    assert report["b"]["excluded_test_sources"] == ["eye_closed/b_03.jpg", "eye_closed/b_07.jpg"]
    for part in (manifest[from_b], manifest[~from_b]):  # each root has all three splits of its own
        assert set(part["split"]) == {"train", "validation", "test"}
    source = yaml.safe_load((project / "data" / "eyes" / "source.json").read_text())
    assert [r["root"] for r in source["roots"]] == ["a", "b"] and source["roots"][1]["files"] == 25


def test_a_missing_second_root_names_its_variable(tmp_path):
    import subprocess
    import sys

    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["eyes"].update(root=str(tmp_path), more_roots=[
        {**params["datasets"]["eyes"]["more_roots"][0], "root": "nowhere"}])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "stages.locate", "eyes"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "locate@eyes: no dataset at nowhere" in proc.stderr and "MESHFER_EYES_FER_DATA" in proc.stderr

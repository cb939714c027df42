import hashlib
from pathlib import Path

import pandas as pd

from meshfer.training.augment import augment_manifest
from meshfer.training.config import load_params
from tests.conftest import ROOT


def _manifest(mini_fer_sample):
    rows = []
    for i, path in enumerate(mini_fer_sample):
        split = "train" if path.parts[-3] == "train" else "test"
        rows.append({"path": str(path), "label": path.parts[-2], "split": split, "source": path.stem,
                     "width": 48, "height": 48, "augmented": False})
    return pd.DataFrame(rows)


def test_balances_train_only_and_is_deterministic(tmp_path, mini_fer_sample):
    params = {**load_params(ROOT / "params.yaml")["datasets"]["fer"]["augment"], "target_per_class": 5}
    manifest = _manifest(mini_fer_sample)
    first = augment_manifest(manifest, tmp_path / "a", params)
    second = augment_manifest(manifest, tmp_path / "b", params)
    added = first[first["augmented"]]
    assert (added["split"] == "train").all()
    assert first[first["split"] == "train"].groupby("label").size().eq(5).all()
    assert first[first["split"] == "test"].equals(manifest[manifest["split"] == "test"])
    assert set(added["source"]) <= set(manifest.loc[manifest["split"] == "train", "source"])
    digest = lambda frame: [hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in frame["path"]]
    assert digest(added) == digest(second[second["augmented"]])


def test_zero_target_adds_nothing(tmp_path, mini_fer_sample):
    params = {**load_params(ROOT / "params.yaml")["datasets"]["fer"]["augment"], "target_per_class": 0}
    out = augment_manifest(_manifest(mini_fer_sample), tmp_path, params)
    assert not out["augmented"].any() and len(out) == len(mini_fer_sample)

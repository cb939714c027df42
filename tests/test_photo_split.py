"""Splitting a labelled folder by photo (meshfer.training.photo_split): copies of one photo share a split, and an
earlier version's faces keep theirs."""
import shutil

import numpy as np
import pandas as pd
import pytest

from meshfer.training.datasets import DatasetError, read_dataset
from meshfer.training.photo_split import photo_groups, split_by_photo, stratified_group_split
from meshfer.training.config import load_params
from tests.conftest import ROOT

FRACTIONS = {"train": 0.6, "validation": 0.2, "test": 0.2}


def test_photo_groups_join_same_source_same_bytes_and_listed_pairs():
    sources = ["a", "b", "c", "d", "e", "a"]
    keys = ["k1", "k2", "k3", "k2", "k5", "k6"]          # b and d: the same bytes
    groups = photo_groups(sources, keys, [("c", "e"), ("x", "a")])  # c-e listed; x is no file: ignored
    assert list(groups) == ["a", "b", "c", "b", "c", "a"]


def test_without_links_or_kept_faces_the_split_is_the_version_1_rule():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"label": rng.choice(["wide", "open", "closed"], 60),
                          "source": [f"s{i}" for i in range(60)]})
    groups = photo_groups(frame["source"].tolist(), [f"k{i}" for i in range(60)])
    old = stratified_group_split(frame["label"], frame["source"], FRACTIONS, 42)
    assert split_by_photo(frame, groups, FRACTIONS, 42).equals(old)


def _grown_set(n_old=80, n_new=160, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["wide", "open", "narrowed", "closed"], n_old + n_new)
    frame = pd.DataFrame({"label": labels, "source": [f"s{i:03d}" for i in range(n_old + n_new)]})
    kept = np.arange(len(frame)) < n_old
    return frame, kept


def test_earlier_faces_keep_their_split_and_photo_groups_stay_whole():
    frame, kept = _grown_set()
    old = stratified_group_split(frame.loc[kept, "label"], frame.loc[kept, "source"], FRACTIONS, 42)
    test_face, train_face = old.index[old == "test"][0], old.index[old == "train"][0]
    val_face = old.index[old == "validation"][0]
    # Same photo: an old test face with a new face, an old training face with an old test face (of one label),
    # an old validation face with a new face, and two new faces.
    same = frame["label"] == frame.loc[test_face, "label"]
    other_test = old.index[(old == "test") & same[old.index]][1]
    other_train = old.index[(old == "train") & same[old.index]][1]
    new = np.flatnonzero(~kept)
    frame.loc[new[0], "label"] = frame.loc[test_face, "label"]
    frame.loc[new[1], "label"] = frame.loc[val_face, "label"]
    frame.loc[new[3], "label"] = frame.loc[new[2], "label"]
    pairs = [(frame.source[test_face], frame.source[new[0]]), (frame.source[other_train], frame.source[other_test]),
             (frame.source[val_face], frame.source[new[1]]), (frame.source[new[2]], frame.source[new[3]])]
    groups = photo_groups(frame["source"].tolist(), frame["source"].tolist(), pairs)
    split = split_by_photo(frame, groups, FRACTIONS, 42, kept)

    assert split.notna().all() and set(split) == set(FRACTIONS)
    assert (split.groupby(groups).nunique() == 1).all()            # every photo in one split
    moved = split[kept] != old
    assert list(old.index[moved]) == [other_train]                 # only the straddling training face moved ...
    assert split[other_train] == split[other_test] == "test"       # ... to test, with its same-photo test face
    assert split[new[0]] == "test" and split[new[1]] == "validation"
    # The new faces are split by the same rule: close to the fractions.
    shares = split[~kept].value_counts(normalize=True)
    assert all(abs(shares[name] - share) < 0.08 for name, share in FRACTIONS.items())


def _labelled_root(root, mini_fer_sample, annotators):
    rows = []
    for i, (src, annotator) in enumerate(zip(mini_fer_sample, annotators)):
        label = ("wide", "open", "narrowed", "closed")[i % 4]
        rel = f"eye_{label}/f_{i:02d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
        rows.append((rel, label, f"train/x/Training_{i}.jpg", annotator))
    pd.DataFrame(rows, columns=["file", "label", "source_path", "annotator"]).to_csv(root / "labels.csv",
                                                                                  index=False)
    return rows


def _folder_params(root, **options):
    return {**load_params(ROOT / "params.yaml")["datasets"]["eyes"], "root": "unused", "more_roots": [
        {"root": str(root), "root_env": "X", "where_to_get_it": "-", **options}]}


def _splits(manifest):
    return dict(zip(manifest["path"].map(lambda p: p.rsplit("/", 1)[-1]), manifest["split"]))


def test_a_folder_is_split_by_photo_with_its_options(tmp_path, mini_fer_sample):
    first = _labelled_root(tmp_path / "v1", mini_fer_sample[:16], [1] * 16)
    version_1 = _splits(read_dataset(tmp_path / "v1", _folder_params(tmp_path / "v1"), tmp_path / "o1")[0])
    root = tmp_path / "eyes_fer"
    rows = _labelled_root(root, mini_fer_sample[:40], [1] * 16 + [2] * 24)
    assert rows[:16] == first
    shutil.copy(root / rows[0][0], root / rows[0][0].replace(".jpg", "_copy.jpg"))  # a copy not in labels.csv
    pd.DataFrame({"source_path": [rows[1][2], rows[20][2]], "other_source_path": [rows[5][2], rows[24][2]]}).to_csv(
        root / "pairs.csv", index=False)                            # same photo: f_01 and f_05, f_20 and f_24
    manifest, _ = read_dataset(root, _folder_params(root, same_photo="pairs.csv", keep_splits_of_annotators=[1]),
                               tmp_path / "out")
    split = _splits(manifest)
    assert split["f_00_copy.jpg"] == split["f_00.jpg"]
    assert split["f_01.jpg"] == split["f_05.jpg"] and split["f_20.jpg"] == split["f_24.jpg"]
    straddling = {"f_01.jpg", "f_05.jpg"} if version_1["f_01.jpg"] != version_1["f_05.jpg"] else set()
    assert {name: version_1[name] for name in version_1 if name not in straddling} == \
        {name: split[name] for name in version_1 if name not in straddling}     # version 1's faces kept their split
    assert set(manifest["split"]) == {"train", "validation", "test"}


def test_a_missing_pairs_file_stops_prepare_with_one_line(tmp_path, mini_fer_sample):
    root = tmp_path / "eyes_fer"
    _labelled_root(root, mini_fer_sample[:8], [1] * 8)
    with pytest.raises(DatasetError, match="nowhere.csv"):
        read_dataset(root, _folder_params(root, same_photo="nowhere.csv"), tmp_path / "out")

"""Copies of training images: byte-identical, re-encoded, shifted and mirrored copies are found; other faces and
other photos of the same kind of scene are not; training copies that disagree on the label are dropped."""
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from meshfer.training.near_copies import mark_copies

RULE = {"similarity": 0.88, "max_shift_px": 2, "mirrored": True}


def _face(seed: int) -> np.ndarray:
    """A smooth random 48 px gray picture (blobs, like a face's shading), different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.random((6, 6))
    return (np.kron(small, np.ones((8, 8))) * 200 + rng.random((48, 48)) * 20).astype(np.uint8)


def _save(pixels: np.ndarray, path: Path, **kwargs) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)
    return str(path)


def test_copies_are_found_and_other_faces_are_not(tmp_path):
    rows = [(_save(_face(i), tmp_path / f"train/{i}.png"), "happy", "train") for i in range(40)]
    base = _face(3)
    (tmp_path / "val").mkdir()
    (tmp_path / "val/identical.png").write_bytes((tmp_path / "train/3.png").read_bytes())
    rows.append((str(tmp_path / "val/identical.png"), "happy", "validation"))
    rows.append((_save(base, tmp_path / "val/jpeg.jpg", quality=40), "happy", "validation"))
    rows.append((_save(np.roll(base, (1, 2), axis=(0, 1)), tmp_path / "test/shifted.png"), "sad", "test"))
    rows.append((_save(base[:, ::-1], tmp_path / "test/mirrored.png"), "happy", "test"))
    for i in range(100, 110):
        rows.append((_save(_face(i), tmp_path / f"test/other{i}.png"), "happy", "test"))
    manifest = pd.DataFrame(rows, columns=["path", "label", "split"])
    marked, report = mark_copies(manifest, RULE)
    near = dict(zip(marked["path"].map(lambda p: Path(p).stem), marked["near_copy"]))
    assert all(near[name] for name in ("identical", "jpeg", "shifted", "mirrored"))
    assert not any(near[f"other{i}"] for i in range(100, 110))
    assert not marked.loc[marked["split"] == "train", "near_copy"].any()
    by_stem = marked.set_index(marked["path"].map(lambda p: Path(p).stem))
    assert by_stem.loc["shifted", "copy_of"].endswith("train/3.png")
    assert report["by_split"]["validation"] == {"images": 2, "byte_identical": 1, "near_copies": 1, "kept": 0}
    assert report["by_split"]["test"]["kept"] == 10


def test_mirrored_copies_count_only_when_asked(tmp_path):
    rows = [(_save(_face(i), tmp_path / f"train/{i}.png"), "happy", "train") for i in range(10)]
    rows.append((_save(_face(4)[:, ::-1], tmp_path / "test/mirrored.png"), "happy", "test"))
    manifest = pd.DataFrame(rows, columns=["path", "label", "split"])
    assert mark_copies(manifest, RULE)[0]["near_copy"].iloc[-1]
    assert not mark_copies(manifest, {**RULE, "mirrored": False})[0]["near_copy"].iloc[-1]


def test_training_copies_with_different_labels_are_dropped_and_agreeing_ones_kept(tmp_path):
    a, b = _save(_face(1), tmp_path / "train/happy/a.png"), _save(_face(2), tmp_path / "train/happy/b.png")
    a_sad = tmp_path / "train/sad/a.png"
    a_sad.parent.mkdir(parents=True)
    a_sad.write_bytes(Path(a).read_bytes())
    b_again = tmp_path / "train/happy/b2.png"
    b_again.write_bytes(Path(b).read_bytes())
    manifest = pd.DataFrame([(a, "happy", "train"), (str(a_sad), "sad", "train"), (b, "happy", "train"),
                             (str(b_again), "happy", "train")], columns=["path", "label", "split"])
    marked, report = mark_copies(manifest, RULE)
    assert sorted(Path(p).name for p in marked["path"]) == ["b.png", "b2.png"]
    assert report["conflicting_training_copies_dropped"] == 2

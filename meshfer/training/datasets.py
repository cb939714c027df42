"""Index a labelled image dataset into a manifest: path, canonical label, split, source id, size.

Three layouts are read: the Kaggle folders (``train/<label>``, ``test/<label>``), flat label folders
(``<label>/``, the seed's layout, optionally with a ``labels.csv`` naming each file's source) and the original
``fer2013.csv`` (pixels as text, a ``Usage`` column).
"""
from __future__ import annotations

import hashlib
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from meshfer.imageio import labelled_images
from meshfer.labels import check_aliases
from meshfer.training.config import project_root
from meshfer.training.photo_split import split_label_folder, stratified_group_split

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
MANIFEST_COLUMNS = ["path", "label", "split", "source", "width", "height", "augmented"]
FER_CSV_USAGE = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
# Kaggle's test folder keeps the original usage in the file name.
FER_FILE_PREFIX = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}


class DatasetError(RuntimeError):
    """The dataset root is missing or has none of the known layouts."""


@dataclass
class PrepareReport:
    layout: str = ""
    counts: dict = field(default_factory=dict)
    unknown_folders: list = field(default_factory=list)
    label_entries_not_folders: list = field(default_factory=list)
    empty_folders: list = field(default_factory=list)
    unreadable: dict = field(default_factory=dict)
    ignored_files: int = 0
    excluded_test_sources: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "layout": self.layout,
            "images": int(sum(sum(c.values()) for c in self.counts.values())),
            "counts": self.counts,
            "unknown_folders": sorted(self.unknown_folders),
            "label_entries_not_folders": sorted(self.label_entries_not_folders),
            "empty_folders": sorted(self.empty_folders),
            "unreadable": dict(sorted(self.unreadable.items())),
            "ignored_files": self.ignored_files,
            "excluded_test_sources": sorted(self.excluded_test_sources),
        }


def dataset_roots(params: dict) -> list[dict]:
    """The dataset's folders: ``root`` and any ``more_roots``, each with its ``root_env`` and ``where_to_get_it``."""
    main = {key: params[key] for key in ("root", "root_env", "where_to_get_it")}
    return [main, *params.get("more_roots", [])]


def locate_dataset(params: dict) -> Path:
    """The dataset's ``root`` as this workspace reads it. In a queued experiment's copy the project's own link is
    linked in (the data is never copied), so every stage reads the same paths there as in the project."""
    root = Path(params["root"])
    if root.exists():
        return root
    source = project_root() / root
    if not root.is_absolute() and source.exists() and source.resolve() != root.resolve():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.symlink_to(source.resolve(), target_is_directory=source.is_dir())
        log.info("linked %s -> %s (the project's data, for this experiment's copy)", root, source.resolve())
        return root
    env = params.get("root_env", "")
    raise DatasetError(
        f"no dataset at {root}: run `make data` (links {root} to ${env}, else ../shared/datasets/...), "
        f"or set {env}=/path/to/it and run `make data`, or unpack it to {root}. "
        + " ".join(params.get("where_to_get_it", "").split()))


def fingerprint(root: Path) -> dict:
    """What `prepare` depends on instead of the folder itself: the count, size and a content hash of every file
    below ``root`` (by relative path), so a changed, added or removed image re-runs it and nothing else does."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest, size = hashlib.sha256(), 0
    for path in tqdm(files, desc=f"checking {root}", unit="file", leave=False):
        data = path.read_bytes()
        size += len(data)
        rel = path.name if path == root else path.relative_to(root).as_posix()
        digest.update(f"{rel}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return {"files": len(files), "bytes": size, "sha256": digest.hexdigest()}


def detect_layout(root: Path) -> str:
    if root.is_file() and root.suffix == ".csv" or (root / "fer2013.csv").is_file():
        return "fer_csv"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "train_test_folders"
    if root.is_dir() and any(p.is_dir() for p in root.iterdir()):
        return "label_folders"
    raise DatasetError(f"{root} has none of the known layouts (train/<label>, <label>/, fer2013.csv)")


def image_size(path: Path) -> tuple[int, int] | str:
    """(width, height) from the header, or the reason the file cannot be read as an image."""
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        with Image.open(path) as img:
            img.verify()  # catches truncation and corrupt headers without decoding everything twice
        with Image.open(path) as img:
            return img.size
    except UnidentifiedImageError:
        return "not an image file"
    except Exception as err:  # PIL raises many types for damaged files
        return f"corrupt image ({type(err).__name__}: {err})"


def scan_label_folders(
    folder: Path, aliases: dict[str, str], report: PrepareReport, where: str = ""
) -> list[tuple[Path, str]]:
    """(file, canonical label) for every image below ``folder/<label>/``; what does not fit goes to the report."""
    found = labelled_images(folder, aliases, where)
    report.unknown_folders += found.unknown_folders
    report.empty_folders += found.empty_folders
    report.label_entries_not_folders += found.label_entries_not_folders
    report.ignored_files += len(found.skipped_files)
    return found.pairs


def split_from_name(path: Path, default: str) -> str:
    prefix = path.name.split("_", 1)[0]
    return FER_FILE_PREFIX.get(prefix, default)


def read_dataset(root: Path, params: dict, out_dir: Path) -> tuple[pd.DataFrame, PrepareReport]:
    """Build the manifest of ``root`` by its layout; images decoded from a CSV are written below ``out_dir``."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found at {root}")
    aliases = check_aliases(params["aliases"], params["task"])
    report = PrepareReport(layout=detect_layout(root))
    if report.layout == "fer_csv":
        rows = _rows_from_csv(root if root.is_file() else root / "fer2013.csv", aliases, out_dir, report)
    elif report.layout == "train_test_folders":
        rows = _rows_from_train_test(root, aliases, report)
    else:
        rows = _rows_from_label_folders(root, aliases, report)
    frame = pd.DataFrame(rows, columns=["path", "label", "split", "source"])
    frame = _assign_missing_splits(frame, params, root)
    frame = _check_images(frame, report)
    frame = _subset(frame, params.get("max_per_label"), params["seed"])
    report.counts = {s: dict(sorted(Counter(frame.loc[frame.split == s, "label"]).items())) for s in SPLITS}
    return frame[MANIFEST_COLUMNS].reset_index(drop=True), report


def _rows_from_train_test(root: Path, aliases: dict, report: PrepareReport) -> list:
    rows = []
    for part, default in (("train", "train"), ("test", "test")):
        for path, label in scan_label_folders(root / part, aliases, report, where=f"{part}/"):
            split = split_from_name(path, default)
            rows.append((str(path), label, split, path.stem))
    return rows


def _rows_from_label_folders(root: Path, aliases: dict, report: PrepareReport) -> list:
    sources: dict[str, str] = {}
    csv = root / "labels.csv"
    if csv.is_file():
        table = pd.read_csv(csv)
        if {"file", "source_path"} <= set(table.columns):
            sources = dict(zip(table["file"], table["source_path"]))
    rows = []
    for path, label in scan_label_folders(root, aliases, report):
        rel = path.relative_to(root).as_posix()
        if rel in sources and names_fer_test_image(sources[rel]):
            # A set made from FER-2013 faces (labels.csv names each one's origin) never takes one of its test faces.
            report.excluded_test_sources.append(rel)
            continue
        rows.append((str(path), label, None, sources.get(rel, rel)))
    return rows


def names_fer_test_image(source: str) -> bool:
    """Whether a source path names a FER-2013 test image (Kaggle's test/ folder, or PublicTest_/PrivateTest_)."""
    parts = Path(str(source)).parts
    return bool(parts) and (parts[0] == "test" or split_from_name(Path(parts[-1]), "train") != "train")


def _rows_from_csv(csv: Path, aliases: dict, out_dir: Path, report: PrepareReport) -> list:
    table = pd.read_csv(csv)
    # The original file labels by index in the challenge's order, which the aliases map by name.
    codes = {"0": "angry", "1": "disgust", "2": "fear", "3": "happy", "4": "sad", "5": "surprise", "6": "neutral"}
    rows = []
    for i, rec in enumerate(table.itertuples(index=False)):
        name = codes.get(str(rec.emotion), str(rec.emotion))
        if name not in aliases:
            report.unknown_folders.append(f"emotion={rec.emotion}")
            continue
        split = FER_CSV_USAGE.get(rec.Usage, "train")
        path = out_dir / "images" / split / f"{rec.Usage}_{i:05d}.png"
        try:
            pixels = np.array(str(rec.pixels).split(), dtype=np.uint8)
            side = int(round(np.sqrt(pixels.size)))
            if side * side != pixels.size or side == 0:
                raise ValueError(f"{pixels.size} pixels is not a square image")
        except ValueError as err:
            report.unreadable[f"{csv.name}:row{i}"] = str(err)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(side, side), mode="L").save(path)
        rows.append((str(path), aliases[name], split, f"{rec.Usage}_{i:05d}"))
    return rows


def root_options(params: dict, root: Path) -> dict:
    """The entry of ``dataset_roots(params)`` for the folder ``root`` (empty if none names it)."""
    return next((entry for entry in dataset_roots(params) if Path(entry["root"]) == Path(root)), {})


def _assign_missing_splits(frame: pd.DataFrame, params: dict, root: Path) -> pd.DataFrame:
    fractions = params["split_fractions"]
    missing = frame["split"].isna()
    if missing.any():
        # Files without a split of their own (label folders) are split by photo (meshfer.training.photo_split).
        try:
            frame.loc[missing, "split"] = split_label_folder(frame.loc[missing], root, root_options(params, root),
                                                             fractions, params["seed"])
        except (OSError, ValueError) as err:  # a missing or malformed same-photo or labels file
            raise DatasetError(f"{root}: {err}") from None
    if not (frame["split"] == "validation").any() and (frame["split"] == "train").any():
        # A dataset with train/test but no validation: carve validation out of train, by source.
        train = frame["split"] == "train"
        share = {"train": 1 - fractions["validation"], "validation": fractions["validation"]}
        frame.loc[train, "split"] = stratified_group_split(
            frame.loc[train, "label"], frame.loc[train, "source"], share, params["seed"]
        )
    return frame


def _check_images(frame: pd.DataFrame, report: PrepareReport) -> pd.DataFrame:
    sizes = [image_size(Path(p)) for p in frame["path"]]
    ok = np.array([isinstance(s, tuple) for s in sizes], dtype=bool)
    for path, reason in zip(frame["path"][~ok], (s for s in sizes if not isinstance(s, tuple))):
        report.unreadable[str(path)] = reason
    frame = frame[ok].copy()
    frame["width"] = [s[0] for s in sizes if isinstance(s, tuple)]
    frame["height"] = [s[1] for s in sizes if isinstance(s, tuple)]
    frame["augmented"] = False
    return frame


def _subset(frame: pd.DataFrame, max_per_label: int | None, seed: int) -> pd.DataFrame:
    """A fixed, seeded sample of at most ``max_per_label`` images per split and label (CI, quick runs)."""
    if not max_per_label:
        return frame
    # Rank by a hash of the path, not by position, so the sample does not depend on listing order.
    rank = frame["path"].map(lambda p: zlib.crc32(f"{seed}:{Path(p).name}".encode()))
    frame = frame.assign(_rank=rank).sort_values(["split", "label", "_rank"])
    return frame.groupby(["split", "label"], sort=False).head(int(max_per_label)).drop(columns="_rank")

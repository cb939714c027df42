"""The cached, parallel, resumable landmark pass over many image files.

Detections are cached by (image content hash, detection config) in small part files written atomically as each
chunk finishes, so an interrupted run redoes only the missing chunks and a changed dataset reuses every image it
has seen before. The cache lives beside the output, not in it: the output (an index and one array file, written
the same way byte for byte) is a function of the manifest and the config alone, whatever earlier or interrupted
runs left in the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from meshfer.imageio import ImageReadError, read_rgb
from meshfer.labels import NO_FACE_ERROR
from meshfer.landmarker import N_BLENDSHAPES, N_LANDMARKS, DetectConfig, Landmarker
from meshfer.training.content_keys import content_key

log = logging.getLogger(__name__)

INDEX_FILE = "index.parquet"
ARRAYS_FILE = "arrays.npz"
RECORD_ARRAYS = ("points", "blendshapes", "pose")


@dataclass
class LandmarkTable:
    """Landmark records aligned with ``index`` rows; points are NaN where no face was found."""

    index: pd.DataFrame  # manifest columns + key, found, n_faces, error
    points: np.ndarray  # (N, 478, 3) float32
    blendshapes: np.ndarray  # (N, 52) float32
    pose: np.ndarray  # (N, 4, 4) float32

    @property
    def found(self) -> np.ndarray:
        return self.index["found"].to_numpy(bool)


def _empty_records(n: int) -> dict[str, np.ndarray]:
    return {
        "found": np.zeros(n, bool),
        "n_faces": np.zeros(n, np.int16),
        "points": np.full((n, N_LANDMARKS, 3), np.nan, np.float32),
        "blendshapes": np.full((n, N_BLENDSHAPES), np.nan, np.float32),
        "pose": np.full((n, 4, 4), np.nan, np.float32),
        "error": np.full(n, "", dtype=object),
    }


def detect_files(paths: Sequence[str], config: DetectConfig, model_path: str | None = None) -> dict[str, np.ndarray]:
    """Run the landmarker over files; the most confident face of each image is kept, failures are recorded."""
    records = _empty_records(len(paths))
    with Landmarker(config, model_path) as landmarker:
        for i, path in enumerate(paths):
            try:
                faces = landmarker.detect(read_rgb(path))
            except ImageReadError as err:
                records["error"][i] = err.reason
                continue
            records["n_faces"][i] = len(faces)
            if not faces:
                records["error"][i] = NO_FACE_ERROR
                continue
            records["found"][i] = True
            records["points"][i] = faces[0].points
            records["blendshapes"][i] = faces[0].blendshapes
            records["pose"][i] = faces[0].pose
    return records


def _save_part(folder: Path, keys: Sequence[str], records: dict[str, np.ndarray]) -> None:
    name = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:16]
    arrays = {k: v for k, v in records.items() if k != "error"}
    arrays["error"] = np.asarray(records["error"], dtype=str)
    tmp = folder / f".{name}.{os.getpid()}.tmp.npz"  # queued experiments may share the cache
    np.savez(tmp, keys=np.asarray(keys, dtype=str), **arrays)
    os.replace(tmp, folder / f"{name}.npz")  # atomic: a killed run leaves no half-written part


def _load_parts(folder: Path) -> dict[str, tuple[Path, int]]:
    """key -> (part file, row) for every finished part."""
    where: dict[str, tuple[Path, int]] = {}
    for part in sorted(folder.glob("*.npz")):
        if part.name.startswith("."):
            continue
        with np.load(part, allow_pickle=False) as data:
            for row, key in enumerate(data["keys"]):
                where[str(key)] = (part, row)
    return where


def _process_chunk(folder: str, keys: list[str], paths: list[str], config: DetectConfig, model_path) -> int:
    _save_part(Path(folder), keys, detect_files(paths, config, model_path))
    return len(keys)


def run_landmark_pass(
    manifest: pd.DataFrame,
    out_dir: str | os.PathLike,
    config: DetectConfig,
    n_jobs: int = -1,
    backend: str = "loky",
    chunk_size: int = 256,
    model_path: str | None = None,
    scheduler_address: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Detect faces on every ``manifest.path`` not already in the cache (default: ``<out_dir>_cache``); write the
    index and the arrays to ``out_dir`` and return the index."""
    from joblib import Parallel, delayed, parallel_config

    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir.with_name(out_dir.name + "_cache")
    parts = cache_dir / config.digest()
    parts.mkdir(parents=True, exist_ok=True)
    for stale in parts.glob(f".*.{os.getpid()}.tmp.npz"):
        stale.unlink()

    keys = [content_key(p) for p in tqdm(manifest["path"], desc="hashing images", unit="img", leave=False)]
    done = _load_parts(parts)
    todo: dict[str, str] = {}
    for key, path in zip(keys, manifest["path"]):
        if key not in done and key not in todo:
            todo[key] = path
    log.info("%d images, %d unique, %d cached, %d to detect", len(keys), len(set(keys)), len(done), len(todo))

    chunks = _chunks(list(todo.items()), chunk_size)
    if chunks:
        tasks = (delayed(_process_chunk)(str(parts), [k for k, _ in c], [p for _, p in c], config, model_path)
                 for c in chunks)
        with _backend(backend, n_jobs, scheduler_address) as (name, jobs):
            with parallel_config(backend=name, n_jobs=jobs):
                bar = tqdm(total=len(todo), desc="landmarks", unit="img")
                for n in Parallel(return_as="generator_unordered")(tasks):
                    bar.update(n)
                bar.close()

    index = manifest.reset_index(drop=True).copy()
    index["key"] = keys
    table = _assemble(index, _load_parts(parts))
    _write_table(table, out_dir)
    return table.index


def _write_table(table: LandmarkTable, out_dir: Path) -> None:
    from meshfer.training.config import save_arrays

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    table.index.to_parquet(out_dir / INDEX_FILE, index=False)
    save_arrays(out_dir / ARRAYS_FILE, {name: getattr(table, name) for name in RECORD_ARRAYS})


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@contextlib.contextmanager
def _backend(name: str, n_jobs: int, scheduler_address: str | None):
    """(joblib backend, n_jobs) by name; 'dask' starts a local cluster unless a scheduler address is given."""
    if name != "dask":
        yield name, n_jobs
        return
    from meshfer.dask_cluster import LOCAL_PREFIX, dask_client

    workers = os.cpu_count() if n_jobs in (-1, None) else n_jobs
    with dask_client(scheduler_address or f"{LOCAL_PREFIX}{workers}"):
        yield "dask", -1


def _assemble(index: pd.DataFrame, where: dict[str, tuple[Path, int]]) -> LandmarkTable:
    records = _empty_records(len(index))
    by_part: dict[Path, list[tuple[int, int]]] = {}
    for i, key in enumerate(index["key"]):
        part, row = where[key]
        by_part.setdefault(part, []).append((i, row))
    for part, pairs in by_part.items():
        dest, src = map(list, zip(*pairs))
        with np.load(part, allow_pickle=False) as data:
            for name in records:
                records[name][dest] = data[name][src]
    index = index.assign(found=records["found"], n_faces=records["n_faces"], error=records["error"].astype(str))
    return LandmarkTable(index, records["points"], records["blendshapes"], records["pose"])


def load_landmarks(out_dir: str | os.PathLike) -> LandmarkTable:
    """Read a finished landmark pass: its index and the arrays aligned with it."""
    out_dir = Path(out_dir)
    stored = pd.read_parquet(out_dir / INDEX_FILE)
    # The record columns as numpy made them (as _assemble does), so a table read back hashes as it was written.
    index = stored.drop(columns=["found", "n_faces", "error"]).assign(
        found=stored["found"].to_numpy(bool), n_faces=stored["n_faces"].to_numpy(np.int16),
        error=stored["error"].to_numpy(str))
    with np.load(out_dir / ARRAYS_FILE, allow_pickle=False) as data:
        return LandmarkTable(index, *(data[name] for name in RECORD_ARRAYS))


def coverage_report(index: pd.DataFrame) -> dict:
    """Share of images with a face, overall and per split; plus read failures and multi-face images."""
    found = index["found"].astype(bool)
    report: dict = {"images": int(len(index)), "coverage": round(float(found.mean()), 4) if len(index) else 0.0}
    report["unreadable"] = int(index["error"].str.len().gt(0).sum() - (index["error"] == NO_FACE_ERROR).sum())
    report["multiple_faces"] = int((index["n_faces"] > 1).sum())
    for split, group in index.groupby("split", sort=True):
        report[f"{split}_coverage"] = round(float(group["found"].mean()), 4)
    return report


def coverage_by_label(index: pd.DataFrame) -> dict:
    """Coverage per split and label: the detail behind coverage_report, for a report file."""
    return {
        str(split): {str(label): round(float(g["found"].mean()), 4) for label, g in group.groupby("label", sort=True)}
        for split, group in index.groupby("split", sort=True)
    }

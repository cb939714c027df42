"""Landmark pass throughput on 1 and 2 processes over a fixed FER-2013 sample, and a no-op `dvc repro`.

Run: python -m bench.finished.landmarks   (writes bench/results/landmarks.json)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import ROOT, fer_sample, write_result
from bench.finished.shared import arguments
from meshfer.training.config import load_params
from meshfer.training.landmark_store import run_landmark_pass
from meshfer.landmarker import DetectConfig


def throughput(files, n_jobs: int, backend: str = "loky") -> dict:
    manifest = pd.DataFrame({"path": list(map(str, files)), "label": "x", "split": "test", "source": range(len(files)),
                             "augmented": False})
    config = DetectConfig.from_params(load_params(ROOT / "params.yaml")["datasets"]["fer"]["landmarks"])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        index = run_landmark_pass(manifest, out, config, n_jobs=n_jobs, backend=backend, chunk_size=64)
        seconds = time.perf_counter() - start
    unique = int(index["key"].nunique())  # identical files are detected once
    return {"processes": n_jobs, "backend": backend, "images": len(files), "unique_images": unique,
            "seconds": round(seconds, 2), "unique_images_per_second": round(unique / seconds, 1),
            "coverage": round(float(index["found"].mean()), 4)}


def noop_repro_seconds(project: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if "Running stage" in out.stdout:
        raise SystemExit("dvc repro was not a no-op: run the full pipeline first")
    return round(seconds, 2)


def full_pass(project: Path) -> dict:
    """The whole FER-2013 manifest the pipeline detects (originals and augmented copies), cold, 2 processes."""
    manifest = pd.read_parquet(project / "data" / "fer" / "augmented" / "manifest.parquet")
    return throughput(manifest["path"].tolist(), 2)


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    if run.smoke:  # a few files, the two loky runs only: no Dask cluster, no full pass, no `dvc repro`
        files = fer_sample(per_label=2)
        runs, noop = [throughput(files, 1), throughput(files, 2)], None
    else:
        files = fer_sample(per_label=80)
        runs = [throughput(files, 1), throughput(files, 2), throughput(files, 2, backend="dask"),
                full_pass(run.project)]
        noop = noop_repro_seconds(run.project)
    write_result("landmarks", {
        "what": "cold landmark pass (hashing, decoding, MediaPipe, writing parts): the first three runs over a "
                "fixed sample of FER-2013 PrivateTest (the first 80 files by name of each label), the last over "
                "the pipeline's whole FER-2013 manifest (originals + augmented training copies)",
        "command": "python -m bench.finished.landmarks",
        "runs": runs,
        "noop_dvc_repro_seconds": noop,
    }, run.results)


if __name__ == "__main__":
    main()

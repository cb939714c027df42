"""Shared helpers for the benchmarks: machine description, timing, result files, the FER-2013 sample, and the eye
model's scores per source (bench.eyes_sources and the finished eye experiments)."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from meshfer.labels import labels_for

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "platform": platform.platform(), "commit": commit.stdout.strip(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def one_core() -> None:
    """Pin this process (and the threads it starts) to a single core."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def median_ms(fn, repeat: int, warmup: int = 5) -> float:
    """The median of ``repeat`` timed calls ``fn(k)`` (k = 0, 1, ...), in ms, after ``warmup`` untimed ones."""
    for k in range(warmup):
        fn(k)
    times = []
    for k in range(repeat):
        start = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 4)


def write_result(name: str, data: dict, folder: Path = RESULTS) -> Path:
    """``data`` with the machine's description as ``folder``/<name>.json (bench/results/ unless told)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def fer_sample(per_label: int = 40, part: str = "test", prefix: str = "PrivateTest_") -> list[Path]:
    """A fixed FER-2013 sample: the first files by name of every label."""
    root = Path(os.environ.get("MESHFER_DATA") or ROOT / "data" / "raw" / "fer2013")
    files = []
    for label_dir in sorted((root / part).iterdir()):
        files.extend(sorted(label_dir.glob(f"{prefix}*"))[:per_label])
    return files


# --- the eye model's scores per source (bench.eyes_sources and the finished eye experiments) -------------------
EYE_LABELS = list(labels_for("eyes"))


def eye_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, mean error in ordinal steps and per-class recall; no face counts as wrong (and as 3 steps)."""
    steps = np.where(y_pred < 0, len(EYE_LABELS) - 1, np.abs(y_pred - y_true))
    recall = {name: round(float(np.mean(y_pred[y_true == i] == i)), 4) if (y_true == i).any() else None
              for i, name in enumerate(EYE_LABELS)}
    return {"images": int(len(y_true)), "accuracy": round(float(np.mean(y_pred == y_true)), 4),
            "mae_steps": round(float(np.mean(steps)), 4), "recall": recall}


def eye_scores_by_source(y: np.ndarray, pred: np.ndarray, sources: np.ndarray) -> dict:
    """``eye_scores`` over all faces and per source folder."""
    return {"all": eye_scores(y, pred), **{s: eye_scores(y[sources == s], pred[sources == s])
                                           for s in np.unique(sources)}}


def eyes_section(base: dict, features: dict, model: dict) -> dict:
    """params.yaml's ``eyes`` section with these feature settings over its own and this model (seed 0)."""
    out = copy.deepcopy(base)
    out["features"] = {**base["features"], **features}
    out["model"] = {**model, "seed": 0}
    return out


def restricted(table, keep: np.ndarray):
    """The FeatureTable with only the images in ``keep`` (a per-image mask) left in their split; the rest set aside."""
    return dataclasses.replace(table, split=np.where(keep, table.split, "unused"))


def predictions_with_sources(model, table, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image of ``split`` (no face: predicted -1): true label, predicted label, source folder."""
    from meshfer.training.evaluate import source_of
    from meshfer.training.scoring import decide, predict_proba_images

    mask = table.rows(split, with_face=False)
    sources = np.array([source_of(p) for p in table.path[mask]])
    return table.y[mask], decide(predict_proba_images(model, table, split)), sources

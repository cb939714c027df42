"""Shared helpers for the benchmarks: machine description, timing, result files, the FER-2013 and photo samples,
`meshfer serve` in a subprocess and a load on it, and the eye model's scores per source (bench.eyes_sources and the
finished eye experiments)."""
from __future__ import annotations

import copy
import dataclasses
import http.client
import json
import os
import platform
import statistics
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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


def photo_sample(count: int = 60) -> list[Path]:
    """Ordinary photos: the first UTKFace portraits (200 px) of the eye set, and the two fixture portraits."""
    root = Path(os.environ.get("MESHFER_EYES_DATA") or ROOT / "data" / "raw" / "eyes")
    utk = sorted((root / "eye_open").glob("utkface_*.jpg"))[:count - 2]
    return [*utk, *sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg"))]


# --- `meshfer serve` under load (bench.http, bench.http_metrics) ------------------------------------------------
SERVE_VENV = Path(tempfile.gettempdir()) / "meshfer-serve-venv"  # the serving install bench.http builds
PYTHON = SERVE_VENV / "bin" / "python"


class Server:
    """`meshfer serve` in a subprocess, ready when its ready line is printed."""

    def __init__(self, *args: str, python: Path = PYTHON):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # Run from a neutral folder so that the venv's installed meshfer is the one imported, not this checkout.
        self.process = subprocess.Popen([str(python), "-m", "meshfer.cli", "serve", "--port", str(self.port), *args],
                                        cwd=tempfile.gettempdir(), stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            if "serving on" in line:
                break
        else:
            raise RuntimeError("meshfer serve did not start")
        # Drain the per-request log lines so the pipe never fills and blocks the server.
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()

    def rss_mib(self) -> float:
        """Resident memory of the server and its worker processes."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return round(sum(_rss_kib(pid) for pid in pids) / 1024, 1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load(port: int, bodies: list[bytes], clients: int, requests: int) -> dict:
    """``requests`` posts shared among ``clients`` threads, each image in turn: throughput, latency, statuses."""
    latencies, statuses, lock = [], Counter(), threading.Lock()
    refusals = []  # the latencies of the 503s alone: a refusal must come at once, not after a wait
    next_index = iter(range(requests))

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in next_index:  # shared iterator: a thread takes the next request number
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/predict", body=bodies[i % len(bodies)],
                                   headers={"Content-Type": "image/jpeg"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status, connection = "connection error", http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                latencies.append(time.perf_counter() - start)
                statuses[status] += 1
                if status == 503:
                    refusals.append(latencies[-1])
        connection.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    seconds = time.perf_counter() - start
    refused = {"refused_p95_ms": _percentile(refusals, 0.95)} if refusals else {}
    return {"clients": clients, "requests": requests, "seconds": round(seconds, 2),
            "requests_per_second": round(requests / seconds, 1), "p50_ms": _percentile(latencies, 0.5),
            "p95_ms": _percentile(latencies, 0.95), "p99_ms": _percentile(latencies, 0.99),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "errors": sum(v for k, v in statuses.items() if k != 200), **refused}


def _percentile(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


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
    from meshfer.training.held_out import source_of
    from meshfer.training.scoring import decide, predict_proba_images

    mask = table.rows(split, with_face=False)
    sources = np.array([source_of(p) for p in table.path[mask]])
    return table.y[mask], decide(predict_proba_images(model, table, split)), sources

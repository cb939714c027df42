"""Shared helpers for the benchmarks: machine description, timing, result files."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

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


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_core() -> None:
    """Pin this process (and the threads it starts) to a single core."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


@contextmanager
def stopwatch(store: dict, key: str):
    start = time.perf_counter()
    yield
    store[key] = round(time.perf_counter() - start, 3)


def median_ms(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return round(1000 * times[len(times) // 2], 3)


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
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


def landmark_only(params: dict) -> list[str]:
    """The expression approaches that never look at pixels (their feature kind does not need the image)."""
    from meshfer.features import get_kind

    expression = [a for a, dataset in params["approaches"].items() if params["datasets"][dataset]["task"] ==
                  "expression"]
    return [a for a in expression if not get_kind(params[a]["features"]["kind"]).needs_image]

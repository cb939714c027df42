"""`make bench-smoke`: every finished experiment's smoke run in turn, each in its own process (TensorFlow's settings
must not leak from one to the next); exits non-zero naming the ones that failed.

python -m bench.finished --smoke [--project DIR]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT
from bench.finished import EXPERIMENTS


def smoke_command(name: str, project: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", f"bench.finished.{name}", "--smoke", "--project", str(project),
            "--results", str(results), *EXPERIMENTS[name]]


def children_cpu_seconds() -> float:
    """CPU time of the finished child processes so far (a figure the machine's other load barely changes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", required=True, help="the only mode: smoke runs")
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout whose pipeline outputs are read")
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as results:
        for name in EXPERIMENTS:
            start, cpu = time.perf_counter(), children_cpu_seconds()
            code = subprocess.run(smoke_command(name, args.project, Path(results) / name), cwd=ROOT).returncode
            print(f"{name}: {'ok' if code == 0 else 'FAILED'} ({time.perf_counter() - start:.0f} s, "
                  f"{children_cpu_seconds() - cpu:.0f} s of CPU)", flush=True)
            if code:
                failed.append(name)
    if failed:
        raise SystemExit(f"smoke runs failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

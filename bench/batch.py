"""`meshfer predict --dask local:2` beside `meshfer predict -j 2`, on the same FER-2013 files, in the same run:

- steady-state images per second, start-up apart: each command on the first 1,000 and the first 10,000 files
  (sorted by path); rate = 9,000 / (T(10,000) - T(1,000)), start-up = T(1,000) - 1,000 / rate.
- peak memory (VmHWM) of the client process and of each worker process at 1,000, 10,000 and all the files:
  flat for the Dask path (rows go to Parquet parts as they come), growing for -j 2 (its rows stay in memory until
  the end). Polled from /proc every 0.2 s; a peak never goes down, so the last reading is the peak up to then.
- what the scheduler costs per task: 2,000 empty tasks through a local:2 cluster, seconds per task.
- what meshfer's worker config (dask_predict.QUIET_WORKERS) saves: `--dask local:2` on 3,000 files with Dask's
  defaults and with it, alternated twice, wall and CPU seconds of every process.
- on paper: throughput with W workers ~ min(W x per-worker rate, chunk size / scheduler cost per task).

Each command writes what it is made for: -j 2 one CSV at the end, --dask a Parquet dataset. With -j 2 the client
is one of the two processes that predict; with --dask it only plans and watches (local:2 runs the scheduler in it).
Inputs are folders of links to the dataset's files (train and test, sorted by path).

Run: nice -n 10 python -m bench.batch  (writes bench/results/batch.json; needs data/raw/fer2013: `make data`)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, write_result

SIZES = (1000, 10000, 35887)
POLL_S = 0.2


def fer_files() -> list[Path]:
    root = Path(os.environ.get("MESHFER_DATA") or ROOT / "data" / "raw" / "fer2013")
    files = sorted(p for part in ("train", "test") for p in (root / part).rglob("*") if p.is_file())
    if len(files) < SIZES[1]:
        sys.exit(f"bench.batch: {root} has {len(files)} files; FER-2013 (`make data`) has 35,887")
    return files


def linked_folder(files: list[Path], folder: Path) -> Path:
    """A folder of links to ``files``: one short argument for both commands."""
    folder.mkdir(parents=True)
    for i, path in enumerate(files):
        (folder / f"{i:05d}_{path.parent.name}_{path.name}").symlink_to(path)
    return folder


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def _peak_mib(pid: int) -> tuple[float, str, float] | None:
    """(peak resident MiB, command line, CPU seconds so far) of a process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    line = next((l for l in status.splitlines() if l.startswith("VmHWM:")), None)
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return (int(line.split()[1]) / 1024, cmdline, cpu) if line else None


def timed(command: list[str]) -> dict:
    """Wall seconds and the peak memory of the command's process and of each process it starts."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, tuple[float, str]] = {}
    while process.poll() is None:
        for pid in _tree(process.pid):
            if (seen := _peak_mib(pid)) is not None:
                peaks[pid] = seen
        time.sleep(POLL_S)
    seconds = time.perf_counter() - start
    err = process.stderr.read()
    if process.returncode not in (0, 1):
        sys.exit(f"bench.batch: {' '.join(command[:6])} ... failed ({process.returncode}): {err[-2000:]}")
    cpu = sum(seen[2] for seen in peaks.values())  # as last polled: a process's final 0.2 s may be missed
    client = peaks.pop(process.pid, (0.0, "", 0.0))[0]
    workers = sorted(round(mib, 1) for mib, cmd, _ in peaks.values()
                     if "python" in cmd and "resource_tracker" not in cmd)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1), "client_peak_mib": round(client, 1),
            "worker_peak_mib": workers}


def commands(folder: Path, out: Path) -> dict[str, list[str]]:
    meshfer = [sys.executable, "-m", "meshfer.cli", "predict", str(folder), "--no-progress"]
    return {"local_j2": [*meshfer, "-j", "2", "-o", str(out / "local.csv")],
            "dask_local2": [*meshfer, "--dask", "local:2", "-o", str(out / "dask.parquet")]}


def worker_config_cost(files: list[Path], tmp: Path, count: int = 3000, rounds: int = 2) -> dict:
    """`--dask local:2` on ``count`` files with Dask's default worker config and with meshfer's
    (dask_predict.QUIET_WORKERS), alternated ``rounds`` times: wall and CPU seconds of all processes."""
    folder = linked_folder(files[:count], tmp / f"config{count}")
    runs: dict[str, list] = {"dask_defaults": [], "meshfer": []}
    for _ in range(rounds):
        for name in runs:
            out = tmp / "config.parquet"
            clear = "d.QUIET_WORKERS.clear(); " if name == "dask_defaults" else ""
            code = (f"import meshfer.dask_predict as d; {clear}from meshfer.cli import main; "
                    f"main(['predict', {str(folder)!r}, '--no-progress', '--dask', 'local:2', '-o', {str(out)!r}])")
            measured = timed([sys.executable, "-c", code])
            runs[name].append({k: measured[k] for k in ("seconds", "cpu_seconds")})
            shutil.rmtree(out, ignore_errors=True)
    return {"files": count, "runs": runs}


def scheduler_cost_per_task(tasks: int = 2000) -> dict:
    """Seconds the scheduler and the client spend per task: empty tasks on a local:2 cluster."""
    from meshfer.dask_cluster import dask_client

    with dask_client("local:2") as client:
        client.gather(client.map(abs, range(100)))  # warm
        start = time.perf_counter()
        client.gather(client.map(abs, range(tasks), pure=False))
        seconds = time.perf_counter() - start
    return {"empty_tasks": tasks, "ms_per_task": round(1000 * seconds / tasks, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--note", default="", help="e.g. what else ran on the machine meanwhile")
    parser.add_argument("--summary-only", action="store_true", help="only the summary of the runs in "
                        "bench/results/batch.json (e.g. of a run cut short) and the scheduler's cost")
    args = parser.parse_args()
    files = fer_files()
    sizes = sorted({min(n, len(files)) for n in args.sizes})
    runs: dict[str, dict] = {}
    result = {"what": __doc__.split("\n\n")[0], "command": "nice -n 10 python -m bench.batch", "note": args.note,
              "files": len(files), "runs": runs}
    if args.summary_only:
        earlier = json.loads((RESULTS / "batch.json").read_text())
        result, runs = earlier, earlier["runs"]
        sizes = []
    with tempfile.TemporaryDirectory(prefix="meshfer-bench-batch-") as tmp:
        for n in sizes:
            folder = linked_folder(files[:n], Path(tmp) / f"in{n}")
            for name, command in commands(folder, Path(tmp)).items():
                if name == "local_j2" and n > SIZES[1]:
                    continue  # its rows stay in memory: the two smaller sizes show the trend
                runs.setdefault(name, {})[str(n)] = timed(command)
                print(name, n, runs[name][str(n)], flush=True)
                shutil.rmtree(Path(tmp) / "dask.parquet", ignore_errors=True)
            write_result("batch", result)  # what is measured so far, in case the run is cut short
        if not args.summary_only:
            result["worker_config"] = worker_config_cost(files, Path(tmp))
    result["steady_state"] = steady_state(runs)
    result["scheduler"] = scheduler_cost_per_task()
    result["on_paper"] = on_paper(result)
    write_result("batch", result)
    print(json.dumps({k: result[k] for k in ("steady_state", "scheduler", "on_paper")}, indent=2))


def steady_state(runs: dict) -> dict:
    small, large = str(SIZES[0]), str(SIZES[1])
    out = {}
    for name, by_size in runs.items():
        if small in by_size and large in by_size:
            rate = (SIZES[1] - SIZES[0]) / (by_size[large]["seconds"] - by_size[small]["seconds"])
            out[name] = {"images_per_second": round(rate, 1),
                         "start_up_seconds": round(by_size[small]["seconds"] - SIZES[0] / rate, 1)}
    if {"local_j2", "dask_local2"} <= out.keys():
        out["dask_over_local"] = round(out["dask_local2"]["images_per_second"] /
                                       out["local_j2"]["images_per_second"], 3)
    return out


def on_paper(result: dict) -> dict:
    from meshfer.dask_predict import CHUNK_SIZE

    dask = result["steady_state"].get("dask_local2")
    if not dask:
        return {}
    per_worker = dask["images_per_second"] / 2
    per_task_s = result["scheduler"]["ms_per_task"] / 1000
    ceiling = CHUNK_SIZE / per_task_s
    return {"per_worker_images_per_second": round(per_worker, 1), "chunk_size": CHUNK_SIZE,
            "scheduler_ceiling_images_per_second": round(ceiling),
            "workers_where_the_scheduler_would_limit": round(ceiling / per_worker),
            "images_per_second_by_workers": {w: round(min(w * per_worker, ceiling)) for w in (2, 8, 32, 128, 512)}}


if __name__ == "__main__":
    main()

"""`meshfer serve` under load: throughput and latency with 1, 4 and 16 concurrent clients on FER-2013 crops and on
photos, against `meshfer predict -j 2` on the same files; memory after 500 and after 5,000 requests; the default
queue against a shorter one with 16 and 20 keep-alive clients; overload. Every server runs on the default
settings (`meshfer serve --workers N`) unless the result names another.

The server and `meshfer predict` run from a clean venv with this checkout's wheel and its [serve] extra (no
TensorFlow there: `import mediapipe` would import it and weigh on the memory figures). The clients are threads of
this process, each with its own keep-alive connection, posting each image as the raw body (what an app does); they
share the machine's cores with the server, as a load generator on the same box does.
Run: `python -m bench.http` (about 8 minutes on 2 cores, plus a minute for the venv) -> bench/results/http.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, SERVE_VENV, Server, fer_sample, load, photo_sample, write_result

def serve_install(rebuild: bool = False) -> dict:
    """This checkout's wheel with the [serve] extra in a clean venv (made once, then the wheel reinstalled)."""
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        wheels, str(ROOT)], check=True)
        wheel = next(Path(wheels).glob("*.whl"))
        if rebuild or not PYTHON.exists():
            shutil.rmtree(SERVE_VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(SERVE_VENV)], check=True)
            subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", f"{wheel}[serve]"], check=True)
        else:
            subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                           check=True)
    present = subprocess.run([str(PYTHON), "-c", "import importlib.util as u; print([m for m in ('tensorflow', "
                              "'sklearn', 'starlette', 'uvicorn') if u.find_spec(m)])"],
                             capture_output=True, text=True, check=True)
    return {"venv": "pip install 'meshfer[serve]' (this checkout's wheel)", "modules_present": present.stdout.strip()}


def concurrency(files: dict[str, list[Path]], workers: int, requests: int) -> dict:
    server = Server("--workers", str(workers))
    try:
        out = {}
        for kind, paths in files.items():
            bodies = [p.read_bytes() for p in paths]
            load(server.port, bodies, 2, 20)  # warm-up: first-use allocations in each worker
            out[kind] = [load(server.port, bodies, clients, requests) for clients in (1, 4, 16)]
        return out
    finally:
        server.stop()


def against_predict(paths: list[Path]) -> dict:
    """The same files through `meshfer predict -j 2` (a fresh process, start-up included) and through a running
    `meshfer serve --workers 2` with 16 clients."""
    start = time.perf_counter()
    subprocess.run([str(PYTHON), "-m", "meshfer.cli", "predict", "--json", "-o", os.devnull, "-j", "2",
                    *map(str, paths)], check=True, capture_output=True, cwd=tempfile.gettempdir())
    predict_rate = len(paths) / (time.perf_counter() - start)
    server = Server("--workers", "2")
    try:
        served = load(server.port, [p.read_bytes() for p in paths], 16, len(paths))
    finally:
        server.stop()
    return {"images": len(paths), "predict_j2_images_per_second": round(predict_rate, 1),
            "serve_workers2_16_clients_images_per_second": served["requests_per_second"],
            "serve_errors": served["errors"], "ratio": round(served["requests_per_second"] / predict_rate, 2)}


def memory(paths: list[Path], total: int = 5000, first: int = 500) -> dict:
    """Resident memory of a one-worker server after ``first`` and after ``total`` requests (4 clients)."""
    server = Server("--workers", "1")
    try:
        bodies = [p.read_bytes() for p in paths]
        load(server.port, bodies, 4, first)
        after_first = server.rss_mib()
        run = load(server.port, bodies, 4, total - first)
        after_total = server.rss_mib()
    finally:
        server.stop()
    return {f"rss_mib_after_{first}": after_first, f"rss_mib_after_{total}": after_total,
            "growth": round(after_total / after_first - 1, 3), "errors": run["errors"]}


def queue_choice(paths: list[Path], requests: int) -> dict:
    """The default queue against the old one (8) on one worker: 16 keep-alive clients, the crowd the default is
    chosen for, must get no 503; 20 are more than it takes."""
    from meshfer.http_settings import ServiceSettings

    out = {"default_queue": ServiceSettings().queue}
    bodies = [p.read_bytes() for p in paths]
    for queue in sorted({8, ServiceSettings().queue}):
        server = Server("--workers", "1", "--queue", str(queue))
        try:
            load(server.port, bodies, 2, 20)
            out[f"queue_{queue}"] = [load(server.port, bodies, clients, requests) for clients in (16, 20)]
        finally:
            server.stop()
    return out


def memory_bound() -> dict:
    """The most one worker can hold on the default settings, from its limits: every open request or stream holds
    at most two copies of an upload (the body and its multipart part, or a stream's newest frame and the one being
    read), the one multipart body being split a transient two more, and the one image being decoded its pixels
    three times over (Pillow's 4 bytes a pixel, its EXIF-turned copy, the RGB array at 3)."""
    from meshfer.http_settings import ServiceSettings

    s = ServiceSettings()
    uploads = (2 * s.max_connections + 2) * s.max_upload_bytes
    decode = (4 + 4 + 3) * s.max_pixels
    return {"max_connections": s.max_connections, "queue": s.queue, "max_upload_mib": s.max_upload_bytes / 2**20,
            "max_megapixels": s.max_pixels / 1e6, "uploads_mib": round(uploads / 2**20),
            "decode_mib": round(decode / 2**20), "bound_mib_before_models": round((uploads + decode) / 2**20)}


def overload(paths: list[Path], clients: int = 64, requests: int = 1500) -> dict:
    """Far more clients than a one-worker server with a short queue takes: only 503s beyond it, no crash, and a
    normal answer right after."""
    server = Server("--workers", "1", "--queue", "4")
    try:
        flood = load(server.port, [p.read_bytes() for p in paths], clients, requests)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request("POST", "/v1/predict", body=paths[0].read_bytes(), headers={"Content-Type": "image/jpeg"})
        response = connection.getresponse()
        after = {"status": response.status, "faces": len(json.loads(response.read())["faces"])}
        alive = server.process.poll() is None
    finally:
        server.stop()
    return {"clients": clients, "queue": 4, "flood": flood, "right_after": after, "server_alive": alive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=120, help="FER-2013 test crops per label (default 120)")
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level (default 400)")
    parser.add_argument("--rebuild-venv", action="store_true", help="rebuild the serving venv from scratch")
    args = parser.parse_args()
    crops, photos = fer_sample(per_label=args.per_label), photo_sample()
    result = {
        "install": serve_install(args.rebuild_venv),
        "images": {"fer_crops": len(crops), "photos": len(photos)},
        "one_worker": concurrency({"fer_crops": crops, "photos": photos}, 1, args.requests),
        "two_workers": concurrency({"fer_crops": crops, "photos": photos}, 2, args.requests),
        "against_predict_j2": against_predict([*crops, *photos]),
        "memory": memory(crops),
        "memory_bound": memory_bound(),
        "queue_choice": queue_choice(crops, args.requests),
        "overload": overload(crops),
    }
    write_result("http", result)


if __name__ == "__main__":
    main()

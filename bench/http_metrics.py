"""What GET /metrics costs: throughput of `meshfer serve` counting (the default) against `meshfer serve --no-metrics`,
measured in the same run, back to back.

Both servers (one worker each) run at once from this interpreter's meshfer; the load alternates between them round
by round (with, without, without, with, ...), so whatever else the machine does weighs on both alike. FER-2013 crops
(48 px), the cheapest requests, where a fixed cost per request shows most. The verdict compares the difference of
the two means with its standard error from the rounds' spread (the noise of this run): within noise when the loss is
under two standard errors. Beside it, what the counting itself costs a request, timed without HTTP around it.
Run: `python -m bench.http_metrics` (about a minute) -> bench/results/http_metrics.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Server, fer_sample, load, write_result
from meshfer.service_metrics import MULTIPROCESS_ENV

VARIANTS = {"metrics": (), "no_metrics": ("--no-metrics",)}


def compare(bodies: list[bytes], rounds: int, requests: int, clients: int) -> dict:
    servers = {name: Server("--workers", "1", "--queue", "32", *flags, python=Path(sys.executable))
               for name, flags in VARIANTS.items()}
    try:
        for server in servers.values():
            load(server.port, bodies, clients, 40)  # warm-up: first-use allocations
        runs = {name: [] for name in servers}
        for round_number in range(rounds):
            order = list(servers) if round_number % 2 == 0 else list(reversed(servers))  # ABBA: neither always first
            for name in order:
                runs[name].append(load(servers[name].port, bodies, clients, requests))
    finally:
        for server in servers.values():
            server.stop()
    rates = {name: [run["requests_per_second"] for run in results] for name, results in runs.items()}
    means = {name: statistics.mean(values) for name, values in rates.items()}
    difference = means["metrics"] - means["no_metrics"]
    # The noise of this run: the standard error of the difference of two means of `rounds` rounds each.
    standard_error = math.sqrt(sum(statistics.variance(values) / rounds for values in rates.values()))
    return {"clients": clients, "requests_per_round": requests, "rounds": rounds,
            "requests_per_second": rates, "mean_requests_per_second": {k: round(v, 1) for k, v in means.items()},
            "p50_ms": {name: [run["p50_ms"] for run in results] for name, results in runs.items()},
            "errors": {name: sum(run["errors"] for run in results) for name, results in runs.items()},
            "metrics_minus_no_metrics": round(difference, 1), "ratio": round(difference / means["no_metrics"] + 1, 3),
            "standard_error_of_difference": round(standard_error, 1),
            "loss_within_noise": bool(difference > -2 * standard_error)}


def hook_cost(repeat: int = 20000) -> dict:
    """The hooks one request runs (its route looked up, the counter and histogram, the queue gauge up and down),
    timed in a fresh process in multiprocess mode, as a worker of `meshfer serve` runs them."""
    with tempfile.TemporaryDirectory(prefix="meshfer-metrics-") as folder:
        code = f"from bench.http_metrics import time_hooks; time_hooks({repeat})"
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, MULTIPROCESS_ENV: folder}, cwd=ROOT,
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def time_hooks(repeat: int) -> None:
    from meshfer.http_app import create_app
    from meshfer.service_metrics import route_of

    app = create_app()
    metrics = app.state.engine.metrics
    assert metrics.folder, "multiprocess mode"
    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "root_path": "", "app": app}
    start = time.perf_counter()
    for _ in range(repeat):
        metrics.waiting(+1)
        metrics.waiting(-1)
        metrics.request_done(route_of(scope), 200, 0.02)
    print(json.dumps({"microseconds_per_request": round((time.perf_counter() - start) / repeat * 1e6, 1),
                      "repeat": repeat}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=20, help="FER-2013 test crops per label (default 20)")
    parser.add_argument("--rounds", type=int, default=8, help="alternations of the two servers (default 8)")
    parser.add_argument("--requests", type=int, default=100, help="requests per server per round (default 100)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the rounds' spread is the noise)")
    crops = fer_sample(per_label=args.per_label)
    result = {"images": len(crops), "server": "meshfer serve --workers 1 --queue 32, this interpreter's meshfer",
              **compare([p.read_bytes() for p in crops], args.rounds, args.requests, args.clients),
              "hooks": hook_cost()}
    write_result("http_metrics", result)
    means = result["mean_requests_per_second"]
    print(f"with metrics {means['metrics']} req/s, without {means['no_metrics']} req/s (standard error of the "
          f"difference {result['standard_error_of_difference']}); the hooks: "
          f"{result['hooks']['microseconds_per_request']} us a request")


if __name__ == "__main__":
    main()

"""``GET /metrics``: Prometheus metrics of ``meshfer serve``, kept with ``prometheus_client``.

What is counted: requests by route and status, their latency (a histogram by route), the queue depth (requests
running or waiting for the inference threads), frames a stream dropped, and the models loaded.

Several workers: every worker process counts its own, and a scrape, whichever worker answers it, must see them all.
``meshfer serve`` therefore runs the library's multiprocess mode: each worker writes its values to memory-mapped
files in a private temporary folder (``meshfer-metrics-*``, mode 0700, made before the workers start, removed when
the server stops) and the worker that answers a scrape adds them up. Those files hold counters only, never a
request's content (uploads still stay in memory). An app made without ``meshfer serve`` (tests, another ASGI server)
counts in its own process only.

The library reads the multiprocess folder from the environment when it is first imported, so this module imports
it only inside functions: ``meshfer serve`` sets the folder first.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the library's name for the folder


def make_multiprocess_dir() -> str:
    """A fresh private folder for the workers' values, named in the environment they inherit; the caller removes it
    with :func:`remove_multiprocess_dir` when the server stops."""
    folder = tempfile.mkdtemp(prefix="meshfer-metrics-")  # mkdtemp: readable by this user only
    os.environ[MULTIPROCESS_ENV] = folder
    return folder


def remove_multiprocess_dir(folder: str) -> None:
    if os.environ.get(MULTIPROCESS_ENV) == folder:
        del os.environ[MULTIPROCESS_ENV]
    shutil.rmtree(folder, ignore_errors=True)


class NoMetrics:
    """What the service calls when nothing is counted (``meshfer serve --no-metrics``): every hook does nothing."""

    enabled = False

    def request_done(self, route: str, status: int, seconds: float) -> None:
        pass

    def waiting(self, change: int) -> None:
        pass

    def frame_dropped(self) -> None:
        pass

    def models_loaded(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


class ServiceMetrics(NoMetrics):
    """This process's metrics; in multiprocess mode, written where every worker's are read back by a scrape."""

    enabled = True

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.folder = os.environ.get(MULTIPROCESS_ENV, "")
        self.registry = CollectorRegistry(auto_describe=True)  # what a scrape reads: this app's, not the global
        own = None if self.folder else self.registry  # multiprocess: values go to the folder, a collector reads it
        self._requests = Counter("meshfer_requests", "HTTP requests answered, by route and status",
                                 ["route", "status"], registry=own)
        self._latency = Histogram("meshfer_request_duration_seconds", "time from request to response, by route",
                                  ["route"], registry=own)
        self._queue = Gauge("meshfer_queue_depth", "requests running or waiting for inference, all workers",
                            registry=own, multiprocess_mode="livesum")
        self._dropped = Counter("meshfer_stream_dropped_frames", "stream frames replaced by a newer one or refused "
                                                                 "while the server was saturated", registry=own)
        self._models = Gauge("meshfer_models_loaded", "expression models in memory (one per approach and eyes "
                                                      "choice used), summed over the live workers",
                             registry=own, multiprocess_mode="livesum")
        if self.folder:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=self.folder)

    def request_done(self, route: str, status: int, seconds: float) -> None:
        self._requests.labels(route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def waiting(self, change: int) -> None:
        self._queue.inc(change)

    def frame_dropped(self) -> None:
        self._dropped.inc()

    def models_loaded(self, count: int) -> None:
        self._models.set(count)

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This worker is stopping: its live gauges (queue depth, models) leave the sums."""
        if self.folder:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.folder)


def service_metrics(enabled: bool) -> NoMetrics:
    return ServiceMetrics() if enabled else NoMetrics()


def route_of(scope: dict) -> str:
    """The path of the app's route this request is for (``/static`` for every file under it), so the label has
    few values, and known before the router runs (a request refused for its token has a route too); requests for no
    route are ``unmatched``."""
    from starlette.routing import Match

    for route in scope["app"].routes:
        if route.matches(scope)[0] is not Match.NONE:
            return route.path
    return "unmatched"


class CountRequests:
    """Pure ASGI middleware, outermost: every HTTP request's route, status and time (refusals included)."""

    def __init__(self, app, metrics: NoMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, route = time.perf_counter(), [500], route_of(scope)  # before the router changes scope

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.request_done(route, status[0], time.perf_counter() - started)

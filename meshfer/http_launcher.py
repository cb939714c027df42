"""Running the service: ``meshfer serve`` starts uvicorn with N worker processes, each running meshfer.http_app with
its own Recognizer, says one line once every worker has its models, and stops cleanly on Ctrl-C or SIGTERM (uvicorn
shuts down, then raises the signal again: that ends here, with "meshfer: stopped" and exit code 0). Standard library
only until ``serve`` runs: uvicorn is imported there."""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from meshfer.http_settings import READY_DIR_ENV, TOKEN_ENV, ServiceSettings


def log_config(level: str = "INFO") -> dict:
    """One line per request from meshfer's own logger; uvicorn only for warnings and errors."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "meshfer: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "meshfer": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def check_port(host: str, port: int) -> None:
    """Fail before loading anything when the address cannot be bound (in use, or not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise OSError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(settings: ServiceSettings, port: int = 8000, workers: int = 1) -> int:
    import uvicorn

    from meshfer.service_metrics import make_multiprocess_dir, remove_multiprocess_dir
    host = settings.host
    check_port(host, port)
    if not is_loopback(host) and not settings.token:
        print(f"meshfer: warning: listening on {host} without a token ({TOKEN_ENV}): anyone who can reach it can "
              "use it", file=sys.stderr)
    ready_dir = tempfile.mkdtemp(prefix="meshfer-ready-")
    metrics_dir = make_multiprocess_dir() if settings.metrics else ""  # see meshfer/service_metrics.py
    os.environ.update(settings.to_env())
    os.environ[READY_DIR_ENV] = ready_dir
    waiter = threading.Thread(target=_say_when_ready, args=(ready_dir, host, port, workers), daemon=True)
    waiter.start()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.run("meshfer.http_app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_config=log_config(), access_log=False, server_header=False,
                    ws_max_size=settings.max_upload_bytes, ws_max_queue=2, timeout_graceful_shutdown=5,
                    # a backstop on open connections, idle keep-alive ones too; meshfer.guard's own cap on open
                    # requests answers first, in JSON and logged
                    limit_concurrency=2 * settings.max_connections + 16)
    except (KeyboardInterrupt, Stopped):  # uvicorn has shut down already, then raised the signal it caught again
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(ready_dir, ignore_errors=True)
        if metrics_dir:
            remove_multiprocess_dir(metrics_dir)
    print("meshfer: stopped", file=sys.stderr)
    return 0


class Stopped(Exception):
    """SIGTERM: a stop asked for, as Ctrl-C is."""


def _stop(signum, frame) -> None:
    raise Stopped


def _say_when_ready(ready_dir: str, host: str, port: int, workers: int) -> None:
    """The ready line, once every worker process has left its file in ``ready_dir``."""
    shown = f"[{host}]" if ":" in host else host
    while Path(ready_dir).is_dir():
        try:
            if len(os.listdir(ready_dir)) >= workers:
                print(f"meshfer: serving on http://{shown}:{port} ({workers} worker{'s' * (workers > 1)})",
                      file=sys.stderr, flush=True)
                return
        except FileNotFoundError:
            return
        time.sleep(0.1)

"""A Dask client for an address: a running scheduler, or a local cluster this process starts and stops.

The one place that knows how meshfer reaches Dask, used by `meshfer predict --dask` (serving) and by the landmark
pass of the pipeline (training), so that both run on the same engine the same way. Needs the ``[dask]`` extra
(dask[distributed]); importing this module does not import Dask.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

LOCAL_PREFIX = "local:"  # local:N = a LocalCluster of N single-threaded worker processes
LOOPBACK = "127.0.0.1"  # a local cluster listens on this machine only
INSTALL_HINT = 'pip install "meshfer[dask]"'


def check_address(address: str) -> str:
    """``address`` if it names a scheduler (``tcp://host:8786``, ``tls://...``) or a local cluster
    (``local:N``, N >= 1); a ValueError with a one-line reason otherwise."""
    if address.startswith(LOCAL_PREFIX):
        count = address[len(LOCAL_PREFIX):]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"{address!r}: local:N needs a number of workers N of 1 or more, e.g. local:2")
        return address
    scheme, sep, rest = address.partition("://")
    if not sep or not scheme or not rest:
        raise ValueError(f"{address!r}: expected a scheduler address such as tcp://host:8786, or local:N")
    return address


def local_workers(address: str) -> int | None:
    """N for ``local:N``; None for a scheduler's address."""
    return int(address[len(LOCAL_PREFIX):]) if address.startswith(LOCAL_PREFIX) else None


@contextlib.contextmanager
def dask_client(address: str) -> Iterator:
    """A ``distributed.Client`` connected to ``address`` (see :func:`check_address`). For ``local:N`` the cluster
    (one thread per worker process, listening on loopback, no dashboard) is started here and closed on exit; a
    scheduler given by address is left running. Dask's own log lines go through ``logging`` ("distributed")."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(f"Dask is not installed: {INSTALL_HINT}") from None

    workers = local_workers(check_address(address))
    if workers is None:
        client, cluster = Client(address), None
    else:
        # The scheduler's HTTP server (health, metrics) always starts: on loopback, on a free port, no dashboard.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOOPBACK,
                               dashboard_address=f"{LOOPBACK}:0", scheduler_kwargs={"dashboard": False},
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

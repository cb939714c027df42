"""GET /metrics: Prometheus text that counts requests by route and status, their latency, the queue depth, dropped
stream frames and the models loaded; behind the token when there is one; off with --no-metrics. And a real
`meshfer serve --workers 2`: each worker's counts are in what any scrape sees, the private folder the workers
write them to is gone once the server stops, and /healthz and /v1/models say the version."""
import os
import re
import tempfile
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import meshfer  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.test_serve_command import HAPPY, Server, request  # noqa: E402
from tests.test_http_app import post, six_frames_at_once, started  # noqa: E402

TOKEN = "metrics-test-token"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape, parsed by the library's own parser (so the format is
    checked too)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def client():
    client = started(ServiceSettings(queue=1))
    yield client
    client.__exit__(None, None, None)


def test_requests_are_counted_by_route_and_status_with_their_latency(client):
    before = samples(client.get("/metrics").text)
    assert post(client, HAPPY).status_code == 200
    assert post(client, b"not an image").status_code == 415
    assert client.get("/static/nothing-here.js").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("meshfer_requests_total", route="/v1/predict", status="200") == 1
    assert added("meshfer_requests_total", route="/v1/predict", status="415") == 1
    assert added("meshfer_requests_total", route="/static", status="404") == 1  # the mount, not the file asked
    assert added("meshfer_request_duration_seconds_count", route="/v1/predict") == 2
    assert added("meshfer_request_duration_seconds_sum", route="/v1/predict") > 0
    assert value(after, "meshfer_queue_depth") == 0  # nothing waits between requests
    assert value(after, "meshfer_models_loaded") == 1  # the default approach, with eyes


def test_a_model_chosen_by_a_request_counts_as_loaded(client):
    assert post(client, HAPPY, "?eyes=false").status_code == 200
    assert value(samples(client.get("/metrics").text), "meshfer_models_loaded") == 2


def test_a_fast_stream_counts_its_dropped_frames(client):
    before = value(samples(client.get("/metrics").text), "meshfer_stream_dropped_frames_total")
    messages = six_frames_at_once(client)
    dropped = value(samples(client.get("/metrics").text), "meshfer_stream_dropped_frames_total") - before
    assert messages[-1]["dropped"] > 0 and dropped == messages[-1]["dropped"]


def test_the_queue_depth_is_what_waits_for_inference(client):
    """Read during a request: the gauge holds the request in progress."""
    engine = client.app.state.engine
    seen, real = [], engine.analyse

    def scrape_then_analyse(*args):
        seen.append(samples(engine.metrics.exposition()[0].decode()))
        return real(*args)

    engine.analyse = scrape_then_analyse
    try:
        assert post(client, HAPPY).status_code == 200
    finally:
        engine.analyse = real
    assert value(seen[0], "meshfer_queue_depth") == 1
    assert value(samples(client.get("/metrics").text), "meshfer_queue_depth") == 0


def test_metrics_need_the_token_when_there_is_one():
    client = started(ServiceSettings(token=TOKEN))
    try:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert value(samples(response.text), "meshfer_requests_total", route="/metrics", status="401") == 2
    finally:
        client.__exit__(None, None, None)


def test_no_metrics_means_no_route():
    client = started(ServiceSettings(metrics=0))
    try:
        assert client.get("/metrics").status_code == 404
        assert post(client, HAPPY).status_code == 200
    finally:
        client.__exit__(None, None, None)


# --- a real server with two workers ------------------------------------------------------------------------------
def metrics_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("meshfer-metrics-*")}


def scrape(server: Server) -> dict:
    req = urllib.request.Request(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return samples(response.read().decode())


def test_two_workers_every_scrape_sees_both_and_the_folder_goes_at_exit():
    folders_before = metrics_dirs()
    server = Server("--workers", "2", "--token", TOKEN)
    try:
        server.wait_ready()
        assert len(metrics_dirs() - folders_before) == 1  # made by this server, before its workers started
        folder = Path(tempfile.gettempdir(), *(metrics_dirs() - folders_before))
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        for endpoint in ("/healthz", "/v1/models"):
            status, body, _ = request(f"{server.url}{endpoint}", token=TOKEN)
            assert status == 200 and body["version"] == meshfer.__version__
        # Each urllib request is a new connection: the kernel hands them to either worker.
        for _ in range(12):
            assert request(f"{server.url}/v1/predict", HAPPY, token=TOKEN)[0] == 200
        writers = {int(m.group(1)) for m in (re.search(r"_(\d+)\.db$", p.name) for p in folder.iterdir()) if m}
        assert len(writers) == 2, "both workers write their counts"
        for _ in range(6):  # whichever worker answers, the scrape adds both up
            scraped = scrape(server)
            assert value(scraped, "meshfer_requests_total", route="/v1/predict", status="200") == 12
            assert value(scraped, "meshfer_models_loaded") == 2  # one default model in each worker
            assert value(scraped, "meshfer_request_duration_seconds_count", route="/v1/predict") == 12
    finally:
        assert server.stop() == 0
    assert not folder.exists(), "the metrics folder is removed when the server stops"
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None  # the tests' own process never used it

"""meshfer.guard in the app, in-process (Starlette's test client): Host and Origin checked, the page's security
headers, the cap on open requests, the body-read timeout. tests/test_serve_command_guard.py does the same against
a real `meshfer serve` over the network."""
import asyncio
import logging

import pytest

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from starlette.testclient import WebSocketDenialResponse  # noqa: E402

from meshfer.guard import CONTENT_SECURITY_POLICY, Guard, host_name  # noqa: E402
from meshfer.http_app import create_app  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.test_http_app import BASE_URL, LocalClient, started  # noqa: E402

HAPPY = (FIXTURES / "faces" / "eileen_collins.jpg").read_bytes()
OWN = BASE_URL  # the page's own origin, seen from the test client


@pytest.fixture(scope="module")
def client():
    client = started(ServiceSettings(cors_origin="https://app.example"))
    yield client
    client.__exit__(None, None, None)


def post(client, headers: dict | None = None, path: str = "/v1/predict"):
    return client.post(path, content=HAPPY, headers={"Content-Type": "image/jpeg", **(headers or {})})


@pytest.mark.parametrize("authority, name", [
    ("localhost:8000", "localhost"), ("127.0.0.1", "127.0.0.1"), ("[::1]:8000", "::1"), ("[::1]", "::1"),
    ("Example.COM:80", "example.com")])
def test_host_name_drops_the_port_and_brackets(authority, name):
    assert host_name(authority) == name


def test_the_page_its_own_origin_and_clients_without_origin_are_served(client):
    assert post(client).status_code == 200  # curl, scripts: no Origin
    assert post(client, {"Origin": OWN}).status_code == 200  # the page itself
    assert post(client, {"Origin": "https://app.example"}).status_code == 200  # --cors-origin
    with client.websocket_connect("/v1/stream", headers={"Origin": OWN}) as ws:
        ws.send_bytes(HAPPY)
        assert ws.receive_json()["faces"][0]["expression"] == "happy"


def test_a_post_from_another_site_is_refused_before_any_work(client, caplog):
    engine = client.app.state.engine
    calls = []
    original = engine.analyse
    engine.analyse = lambda *a: calls.append(a) or original(*a)
    try:
        with caplog.at_level(logging.WARNING, logger="meshfer.guard"):
            response = post(client, {"Origin": "https://evil.example"})
    finally:
        engine.analyse = original
    assert response.status_code == 403 and "evil.example" in response.json()["error"]
    assert calls == []  # refused, not merely hidden from the page: no image was analysed
    assert "refused POST /v1/predict" in caplog.text and "evil.example" in caplog.text


def test_a_stream_from_another_site_is_refused_at_the_handshake(client, caplog):
    with caplog.at_level(logging.WARNING, logger="meshfer.guard"):
        with pytest.raises(WebSocketDenialResponse) as refused:
            with client.websocket_connect("/v1/stream", headers={"Origin": "https://evil.example"}):
                pass
    assert refused.value.status_code == 403 and "evil.example" in refused.value.json()["error"]
    assert "refused WS /v1/stream" in caplog.text


def test_a_foreign_origin_may_still_read_the_page_but_gets_no_cors_grant(client):
    page = client.get("/", headers={"Origin": "https://evil.example"})
    assert page.status_code == 200 and "access-control-allow-origin" not in page.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "192.168.1.20"])
def test_a_request_for_another_host_name_is_refused(client, host):
    for response in (client.get("/v1/models", headers={"Host": host}), post(client, {"Host": host})):
        assert response.status_code == 403 and "Host" in response.json()["error"]
    with pytest.raises(WebSocketDenialResponse):
        with client.websocket_connect("/v1/stream", headers={"Host": host}):
            pass


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_local_names_are_this_servers_own(client, host):
    assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_the_listening_address_is_a_name_too_and_every_interface_checks_no_name():
    async def status(app, host: str) -> int:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"host", host.encode())]}
        await app(scope, receive, send)
        return sent[0]["status"]

    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    on_lan = Guard(ok, ServiceSettings(host="192.168.1.20"))
    assert asyncio.run(status(on_lan, "192.168.1.20:8000")) == 200
    assert asyncio.run(status(on_lan, "evil.example")) == 403
    everywhere = Guard(ok, ServiceSettings(host="0.0.0.0"))
    assert asyncio.run(status(everywhere, "my-laptop.local:8000")) == 200


def test_the_page_carries_its_security_headers(client):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in csp and "'wasm-unsafe-eval'" in csp
    sources = " ".join(part.split(" ", 1)[1] for part in csp.split("; ") if " " in part)
    assert "http" not in sources and "*" not in sources  # no remote origin anywhere: 'self', blob:, data: only
    assert page.headers["x-content-type-options"] == "nosniff"
    for path in ("/static/app.js", "/v1/models"):
        assert client.get(path).headers["x-content-type-options"] == "nosniff"


def test_more_open_requests_than_the_cap_get_503_at_once():
    app = create_app(ServiceSettings(max_connections=2))
    guard = next(m for m in app.user_middleware if m.cls is Guard)
    assert guard.kwargs["settings"].max_connections == 2
    with LocalClient(app) as client:
        stack = client.app.middleware_stack
        while not isinstance(stack, Guard):
            stack = stack.app
        stack.open = 2  # two requests are open (stalled uploads, streams)
        response = client.get("/healthz")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert "too many open requests" in response.json()["error"]
        stack.open = 1
        assert client.get("/healthz").status_code in (200, 503)  # served (503 only while the models load)
        assert "too many" not in client.get("/healthz").text


def test_an_upload_beyond_the_queue_is_refused_without_holding_its_body():
    """The queue holds a place from before the body is read: a worker keeps at most queue + 1 uploads in memory,
    and the rest are answered 503 without taking a place: their bodies are read and dropped chunk by chunk (so the
    client, still sending, gets the answer rather than a reset), never held."""
    app = create_app(ServiceSettings(queue=2))
    engine = app.state.engine
    engine.recognizer, engine.approaches, engine.default_approach = object(), ["a"], "a"  # ready, not loaded
    engine._waiting = 3  # queue + 1 in progress
    reads, sent = [], []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": HAPPY, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "query_string": b"", "scheme": "http",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "root_path": "", "http_version": "1.1",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"image/jpeg"),
                         (b"content-length", str(len(HAPPY)).encode())]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 503 and (b"retry-after", b"1") in sent[0]["headers"]
    assert reads == [1] and engine._waiting == 3

"""A real `meshfer serve` (uvicorn, over the network) keeps slow clients and other websites out: a stalled upload
is cut off with 408, more open requests than `--max-connections` get 503 at once, a WebSocket handshake from
another site and a request for another host name are refused with 403, each logged."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.conftest import FIXTURES, ROOT  # noqa: E402
from tests.test_serve_command import Server  # noqa: E402

HAPPY = (FIXTURES / "faces" / "eileen_collins.jpg").read_bytes()
READ_TIMEOUT = 1.5
MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def server():
    srv = Server("--read-timeout", str(READ_TIMEOUT), "--max-connections", str(MAX_CONNECTIONS))
    srv.wait_ready()
    yield srv
    srv.stop()


def ask(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, JSON body, headers) of one request on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null"), response.headers
    finally:
        connection.close()


def stalled_upload(server, declared: int = 1 << 20, sent: int = 1024) -> socket.socket:
    """A client that announces `declared` bytes, sends `sent` of them and stops."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: image/jpeg\r\n"
                 f"Content-Length: {declared}\r\n\r\n".encode() + b"\xff" * sent)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def logged(server, text: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in server.lines):
            return True
        time.sleep(0.05)
    return False


def test_a_stalled_upload_is_cut_off_with_408(server):
    sock = stalled_upload(server)
    started = time.monotonic()
    try:
        answer = read_all(sock)  # the server answers, then closes the connection
    finally:
        sock.close()
    waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert "stalled" in json.loads(body)["error"]
    assert READ_TIMEOUT - 0.2 <= waited < READ_TIMEOUT + 10, waited
    assert logged(server, "upload stalled")
    assert ask(server, "POST", "/v1/predict", HAPPY, {"Content-Type": "image/jpeg"})[0] == 200  # others go on


def test_more_open_requests_than_the_cap_get_503_with_retry_after(server):
    url = f"ws://127.0.0.1:{server.port}/v1/stream"
    streams = [connect(url) for _ in range(MAX_CONNECTIONS)]  # each holds a place while it is open
    try:
        started = time.monotonic()
        status, body, headers = ask(server, "GET", "/v1/models")
        assert status == 503 and headers["Retry-After"] == "1" and "too many open requests" in body["error"]
        assert time.monotonic() - started < 5  # answered at once, not queued
        assert logged(server, "too many open requests")
    finally:
        for ws in streams:
            ws.close()
    deadline = time.monotonic() + 10
    while ask(server, "GET", "/v1/models")[0] != 200:  # the places are given back as the streams close
        assert time.monotonic() < deadline, "the cap did not come back down"
        time.sleep(0.1)


def test_a_stream_from_another_site_is_refused_at_the_handshake(server):
    url = f"ws://127.0.0.1:{server.port}/v1/stream"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    assert "evil.example" in json.loads(refused.value.response.body)["error"]
    assert logged(server, "refused WS /v1/stream: Origin 'https://evil.example'")
    with connect(url, origin=f"http://127.0.0.1:{server.port}") as ws:  # the page's own origin
        ws.send(HAPPY)
        assert json.loads(ws.recv(timeout=60))["faces"][0]["expression"] == "happy"


def test_a_request_naming_another_host_is_refused(server):
    status, body, _ = ask(server, "GET", "/v1/models", headers={"Host": f"rebound.example:{server.port}"})
    assert status == 403 and "rebound.example" in body["error"]
    assert logged(server, "refused GET /v1/models: Host")
    assert ask(server, "GET", "/v1/models", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_a_token_on_the_command_line_is_warned_about_and_the_environment_is_not():
    with socket.socket() as taken:  # a port in use: the command stops right after reading its options
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        def stderr(*args: str, env: dict | None = None) -> str:
            done = subprocess.run([sys.executable, "-m", "meshfer.cli", "serve", "--port", port, *args], cwd=ROOT,
                                  env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)
            assert done.returncode != 0 and "cannot listen" in done.stderr, done.stderr
            return done.stderr

        assert "set MESHFER_TOKEN instead" in stderr("--token", "visible-in-ps")
        assert "MESHFER_TOKEN" not in stderr(env={"MESHFER_TOKEN": "hidden"})

"""WS /v1/stream sessions: a refusal closes with a code and a reason text a client (or the page) can show, and every
session is logged when it opens and closes (frames, dropped, seconds), never with its images."""
import logging

import pytest

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from meshfer.http_app import close_reason  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.test_http_app import started  # noqa: E402

HAPPY = (FIXTURES / "faces" / "eileen_collins.jpg").read_bytes()


@pytest.fixture(scope="module")
def client():
    client = started(ServiceSettings(token="s3cret"))
    yield client
    client.__exit__(None, None, None)


def test_a_refused_stream_closes_with_the_reason(client, caplog):
    with caplog.at_level(logging.INFO, logger="meshfer.http_app"):
        with client.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json() == {"error": "missing or wrong token", "status": 401}
            closing = ws.receive()
    assert closing == {"type": "websocket.close", "code": 1008, "reason": "missing or wrong token"}
    assert "WS /v1/stream refused 401: missing or wrong token" in caplog.text

    with client.websocket_connect("/v1/stream?token=s3cret&approach=nope") as ws:
        error = ws.receive_json()["error"]
        closing = ws.receive()
    assert closing["code"] == 1008 and closing["reason"] == error and "nope" in error


def test_a_close_reason_fits_the_frame():
    long = "é" * 100  # 200 bytes in UTF-8
    reason = close_reason(long)
    assert len(reason.encode()) <= 123 and long.startswith(reason) and len(reason) == 61


def test_a_session_is_logged_when_it_opens_and_closes(client, caplog):
    with caplog.at_level(logging.INFO, logger="meshfer.http_app"):
        with client.websocket_connect("/v1/stream?token=s3cret") as ws:
            for _ in range(2):
                ws.send_bytes(HAPPY)
                assert ws.receive_json()["faces"]
    lines = [r.getMessage() for r in caplog.records if "WS /v1/stream" in r.getMessage()]
    assert lines[0] == "WS /v1/stream opened"
    assert lines[-1].startswith("WS /v1/stream closed: 2 frames, 0 dropped, ") and lines[-1].endswith(" s")
    assert "s3cret" not in caplog.text

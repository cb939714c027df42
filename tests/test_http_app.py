"""The HTTP service in-process (Starlette's test client): every route, every error status, the limits, the token,
the stream. tests/test_serve_command.py starts a real `meshfer serve` and talks to it over the network."""
import asyncio
import io
import time

import pytest
from PIL import Image

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from starlette.testclient import TestClient  # noqa: E402

from meshfer.labels import EXPRESSIONS  # noqa: E402
from meshfer.http_app import ApiError, Engine, create_app, multipart_files  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.conftest import FIXTURES, schema_validator  # noqa: E402

HAPPY = (FIXTURES / "faces" / "eileen_collins.jpg").read_bytes()
NEUTRAL = (FIXTURES / "faces" / "grace_hopper.jpg").read_bytes()
BASE_URL = "http://127.0.0.1"
API = {name: schema_validator("api.schema.json", name) for name in
       ("predict", "batch", "stream_message", "models", "health", "error")}


class LocalClient(TestClient):
    """Starlette's test client under a name the server answers to: its own "testserver" is refused as a foreign
    Host (and it gives WebSocket paths that name whatever the base URL says)."""

    def __init__(self, app, **kwargs):
        super().__init__(app, base_url=BASE_URL, **kwargs)

    def websocket_connect(self, url: str, *args, **kwargs):
        return super().websocket_connect(BASE_URL.replace("http", "ws", 1) + url, *args, **kwargs)


def started(settings: ServiceSettings = ServiceSettings()) -> TestClient:
    """A client whose app has started and loaded its models."""
    client = LocalClient(create_app(settings))
    client.__enter__()
    deadline = time.monotonic() + 120
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the models did not load"
        time.sleep(0.05)
    return client


@pytest.fixture(scope="module")
def client():
    client = started()
    yield client
    client.__exit__(None, None, None)


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 90, 90)).save(out, "PNG")
    return out.getvalue()


def post(client, body: bytes, query: str = "", content_type: str = "image/jpeg", **kw):
    return client.post(f"/v1/predict{query}", content=body, headers={"Content-Type": content_type, **kw})


def test_healthz_and_predict_say_503_until_the_models_are_loaded():
    client = LocalClient(create_app())  # not started: the lifespan that loads the models has not run
    for response in (client.get("/healthz"), post(client, HAPPY)):
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert "loading" in response.text


def test_models_lists_the_approaches_with_their_card_figures(client):
    body = client.get("/v1/models").json()
    API["models"].validate(body)
    names = [a["name"] for a in body["approaches"]]
    assert body["default"] in names and body["expressions"] == list(EXPRESSIONS)
    assert all(0.3 < a["metrics"]["val"] < 1 and a["labels"] == list(EXPRESSIONS) for a in body["approaches"])


def test_one_image_as_the_body(client):
    response = post(client, HAPPY)
    assert response.status_code == 200, response.text
    body = response.json()
    API["predict"].validate(body)
    assert (body["width"], body["height"]) == Image.open(io.BytesIO(HAPPY)).size
    face = body["faces"][0]
    assert face["expression"] == "happy" and face["expression_score"] > 0.9
    assert 0 <= face["x_min"] < face["x_max"] <= body["width"] and {"left_eye", "right_eye"} <= set(face)


def test_the_same_image_as_a_multipart_field_gives_the_same_faces(client):
    raw = post(client, NEUTRAL).json()
    form = client.post("/v1/predict", files={"image": ("grace.jpg", NEUTRAL, "image/jpeg")}).json()
    API["predict"].validate(form)
    assert form["faces"] == raw["faces"]


def test_a_batch_answers_every_image_and_one_bad_image_fails_alone(client):
    files = [("image", ("a.jpg", HAPPY, "image/jpeg")), ("image", ("notes.txt", b"hello", "text/plain")),
             ("image", ("b.jpg", NEUTRAL, "image/jpeg")), ("image", ("blank.png", png(64, 64), "image/png"))]
    response = client.post("/v1/predict?eyes=false", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    API["batch"].validate(body)
    results = body["results"]
    assert [r["name"] for r in results] == ["a.jpg", "notes.txt", "b.jpg", "blank.png"]
    assert results[0]["faces"][0]["expression"] == "happy" and "left_eye" not in results[0]["faces"][0]
    assert "not an image" in results[1]["error"] and results[3]["faces"] == []


@pytest.mark.parametrize("query, word", [("?approach=nosuch", "approach"), ("?num_faces=0", "num_faces"),
                                         ("?num_faces=99", "num_faces"), ("?num_faces=two", "num_faces"),
                                         ("?eyes=maybe", "eyes"), ("?colour=red", "colour")])
def test_bad_parameters_are_400_naming_the_parameter(client, query, word):
    response = post(client, HAPPY, query)
    assert response.status_code == 400 and word in response.json()["error"]
    API["error"].validate(response.json())


def test_options_choose_the_approach_drop_the_eyes_and_add_the_mesh(client):
    models = client.get("/v1/models").json()
    other = next(a["name"] for a in models["approaches"] if a["name"] != models["default"])
    body = post(client, HAPPY, f"?approach={other}&eyes=false&mesh=true&num_faces=1").json()
    API["predict"].validate(body)
    face = body["faces"][0]
    assert body["approach"] == other and "left_eye" not in face
    assert len(face["landmarks"]) == 478 and len(face["blendshapes"]) == 52


def test_no_face_is_an_empty_list(client):
    body = post(client, png(200, 160), content_type="image/png").json()
    assert body["faces"] == [] and (body["width"], body["height"]) == (200, 160)


@pytest.mark.parametrize("body, content_type", [(b"hello", "text/plain"), (b"not an image", "image/png"),
                                                (HAPPY[: len(HAPPY) // 3], "image/jpeg"), (b"", "image/png")])
def test_what_is_not_a_readable_image_is_415(client, body, content_type):
    response = post(client, body, content_type=content_type)
    assert response.status_code == 415, response.text
    API["error"].validate(response.json())


def test_limits_are_413_before_the_body_or_the_pixels_are_read():
    client = started(ServiceSettings(max_upload_bytes=50_000, max_pixels=100_000))
    try:
        too_long = post(client, HAPPY + b"\0" * 50_000)
        assert too_long.status_code == 413 and "limit" in too_long.json()["error"]
        chunked = client.post("/v1/predict", content=iter([HAPPY[:40_000], HAPPY[40_000:], b"\0" * 20_000]),
                              headers={"Content-Type": "image/jpeg"})  # no Content-Length: counted as it streams
        assert chunked.status_code == 413
        big = post(client, png(400, 300), content_type="image/png")  # 0.12 MP, small file
        assert big.status_code == 413 and "0.12 MP" in big.json()["error"]
        assert post(client, png(300, 300), content_type="image/png").status_code == 200
    finally:
        client.__exit__(None, None, None)


def test_a_token_guards_the_api_but_not_the_page_or_health():
    client = started(ServiceSettings(token="s3cret"))
    try:
        assert client.get("/").status_code == 200 and client.get("/healthz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = client.get("/v1/models", headers=headers)
            assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
            API["error"].validate(response.json())
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert post(client, HAPPY, Authorization="Bearer s3cret").status_code == 200
        with client.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json() == {"error": "missing or wrong token", "status": 401}
        with client.websocket_connect("/v1/stream?token=s3cret") as ws:
            ws.send_bytes(HAPPY)
            assert ws.receive_json()["faces"][0]["expression"] == "happy"
    finally:
        client.__exit__(None, None, None)


def test_cors_headers_only_for_the_named_origin(client):
    assert "access-control-allow-origin" not in client.get("/v1/models", headers={"Origin": "http://a.test"}).headers
    other = started(ServiceSettings(cors_origin="http://app.test"))
    try:
        assert other.get("/v1/models", headers={"Origin": "http://app.test"}).headers[
            "access-control-allow-origin"] == "http://app.test"
        answer = other.get("/v1/models", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in answer.headers
    finally:
        other.__exit__(None, None, None)


def test_an_internal_error_is_json_without_a_traceback(client, monkeypatch):
    engine = client.app.state.engine
    monkeypatch.setattr(engine, "analyse", lambda *a: (_ for _ in ()).throw(RuntimeError("secret detail")))
    # the same started app, seen from outside
    as_a_user = LocalClient(client.app, raise_server_exceptions=False)
    response = post(as_a_user, HAPPY)
    assert response.status_code == 500 and response.json() == {"error": "internal error (logged on the server)"}


def test_the_page_and_its_files_are_served_but_nothing_outside_them(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/static/../http_app.py").status_code == 404
    assert client.get("/static/%2e%2e/http_app.py").status_code == 404


def test_the_stream_answers_every_frame_in_order_and_says_which_were_bad(client):
    with client.websocket_connect("/v1/stream?eyes=false") as ws:
        answers = []
        for frame in (HAPPY, b"garbage", NEUTRAL):
            ws.send_bytes(frame)
            answers.append(ws.receive_json())
        ws.send_text("not a frame")
        answers.append(ws.receive_json())
    for answer in answers:
        API["stream_message"].validate(answer)
    assert [a["frame"] for a in answers] == [0, 1, 2, 3]
    assert answers[0]["faces"][0]["expression"] == "happy" and "not an image" in answers[1]["error"]
    assert answers[2]["faces"][0]["expression"] != "" and "binary" in answers[3]["error"]


def six_frames_at_once(client) -> list[dict]:
    """The stream's answers to six frames sent without waiting, up to the last frame's."""
    with client.websocket_connect("/v1/stream") as ws:
        for _ in range(6):
            ws.send_bytes(HAPPY)
        answers = [ws.receive_json()]
        while answers[-1]["frame"] != 5:
            answers.append(ws.receive_json())
    return answers


def test_a_fast_sender_gets_the_newest_frame_and_a_count_of_the_dropped_ones(client):
    answers = six_frames_at_once(client)
    frames = [a["frame"] for a in answers]
    assert frames == sorted(frames) and len(answers) + answers[-1]["dropped"] == 6


def test_the_wait_is_bounded_and_the_rest_get_503():
    engine = Engine(ServiceSettings(queue=1))
    engine.recognizer = object()  # ready

    async def burst():
        return await asyncio.gather(*(engine.run(time.sleep, 0.2) for _ in range(5)), return_exceptions=True)

    outcomes = asyncio.run(burst())
    refused = [o for o in outcomes if isinstance(o, ApiError)]
    assert len(refused) == 3 and all(e.status == 503 and e.headers == {"Retry-After": "1"} for e in refused)
    assert engine._waiting == 0  # nothing leaks: the next request is served
    assert asyncio.run(engine.run(lambda: "served")) == "served"


def test_multipart_parts_keep_their_bytes_exactly():
    payload = bytes(range(256)) * 50 + b"\r\n--not-the-boundary\r\n"
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n--XyZ\r\n"
            b"Content-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ--\r\n")
    assert multipart_files(body, "multipart/form-data; boundary=XyZ") == [("a.bin", payload)]
    with pytest.raises(ApiError):
        multipart_files(body, "multipart/form-data")

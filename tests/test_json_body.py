"""POST /v1/predict with a JSON body: {"image": base64} answers as the raw body does, {"images": [...]} as a
multipart batch does; the same byte, pixel and count limits; a bad JSON body is a 400 that says what is wrong."""
import base64
import json

import pytest

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")

from meshfer.json_body import JsonBodyError, json_images  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.test_http_app import API, HAPPY, NEUTRAL, png, post, started  # noqa: E402


def as_json(document) -> bytes:
    return json.dumps(document).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def client():
    client = started(ServiceSettings(max_upload_bytes=1 << 20, max_pixels=1_000_000, max_batch=3))
    yield client
    client.__exit__(None, None, None)


def post_json(client, document, query: str = ""):
    return post(client, as_json(document), query, content_type="application/json")


def without_ms(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "ms"}


def test_one_base64_image_answers_as_the_raw_body(client):
    raw = post(client, HAPPY, "?mesh=true").json()
    sent = post_json(client, {"image": b64(HAPPY)}, "?mesh=true")
    assert sent.status_code == 200, sent.text
    API["predict"].validate(sent.json())
    assert without_ms(sent.json()) == without_ms(raw) and raw["faces"][0]["expression"] == "happy"


def test_a_data_url_with_line_breaks_is_the_same_image(client):
    wrapped = "\n".join(b64(NEUTRAL)[i:i + 76] for i in range(0, len(b64(NEUTRAL)), 76))  # as `base64` prints it
    sent = post_json(client, {"image": "data:image/jpeg;base64," + wrapped})
    assert sent.status_code == 200
    assert without_ms(sent.json()) == without_ms(post(client, NEUTRAL).json())


def test_a_list_is_a_batch_like_multipart_fields(client):
    images = [HAPPY, b"not an image", NEUTRAL]
    form = client.post("/v1/predict", files=[("image", (f"image{n}", data, "image/jpeg"))
                                             for n, data in enumerate(images, start=1)]).json()
    sent = post_json(client, {"images": [b64(data) for data in images]})
    assert sent.status_code == 200, sent.text
    API["batch"].validate(sent.json())
    assert without_ms(sent.json()) == without_ms(form)
    assert [r["name"] for r in form["results"]] == ["image1", "image2", "image3"] and "error" in form["results"][1]
    one = post_json(client, {"images": [b64(HAPPY)]}).json()  # a list of one is still a batch
    API["batch"].validate(one)
    assert one["results"][0]["faces"][0]["expression"] == "happy"


def test_the_same_limits_and_errors_as_the_other_bodies(client):
    too_many = post_json(client, {"images": [b64(HAPPY)] * 4})
    assert too_many.status_code == 413 and "limit is 3" in too_many.json()["error"]
    big = png(1200, 1000)  # 1.2 MP over the 1 MP limit, a small file
    raw, sent = post(client, big, content_type="image/png"), post_json(client, {"image": b64(big)})
    assert sent.status_code == raw.status_code == 413 and sent.json() == raw.json()
    big = b64(big)
    batch = post_json(client, {"images": [big, b64(HAPPY)]}).json()
    assert batch["results"][0]["error"] == raw.json()["error"] and batch["results"][1]["faces"]
    not_image = post_json(client, {"image": b64(b"hello")})
    assert not_image.status_code == post(client, b"hello").status_code == 415
    over_bytes = post(client, b"{" + b" " * (1 << 20) + b"}", content_type="application/json")
    assert over_bytes.status_code == 413 and "body too large" in over_bytes.json()["error"]
    bad_param = post_json(client, {"image": b64(HAPPY)}, "?num_faces=99")
    assert bad_param.status_code == 400 and "num_faces" in bad_param.json()["error"]


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (as_json({"img": "x"}), "unknown field 'img'"),
    (as_json({"image": "x", "images": ["x"]}), "either"),
    (as_json({"images": []}), "non-empty list"),
    (as_json({"images": "abc"}), "non-empty list"),
    (as_json({"image": 42}), "image must be a base64 string"),
    (as_json({"image": "abc$"}), "image is not valid base64"),
    (as_json({"images": ["aGk=", "?"]}), "images[1] is not valid base64"),
    (b"\xff\xfe", "not JSON"),
])
def test_a_bad_json_body_is_400_saying_what_is_wrong(client, body, words):
    response = post(client, body, content_type="application/json")
    assert response.status_code == 400 and words in response.json()["error"], response.text
    API["error"].validate(response.json())
    with pytest.raises(JsonBodyError, match=words.replace("[", r"\[").replace("]", r"\]")):
        json_images(body)


def test_names_follow_the_multipart_default():
    images, batch = json_images(as_json({"images": [b64(b"a"), b64(b"b")]}))
    assert images == [("image1", b"a"), ("image2", b"b")] and batch
    assert json_images(as_json({"image": b64(b"a")})) == ([("image", b"a")], False)

"""Each `meshfer serve` option does what it says, over real HTTP against a real server: the queue bound (503 with
Retry-After under a burst), the upload and pixel limits, the faces per request, another models folder, the token
from MESHFER_TOKEN, Ctrl-C, and a stream that drops the frames a fast sender outruns it with. Every option is set
to a value other than its default, so an option that is ignored fails here."""
import io
import json
import shutil
import signal
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from websockets.sync.client import connect  # noqa: E402

from meshfer.recognizer import bundled_models_dir  # noqa: E402
from meshfer.runtime import SERVING_FILE  # noqa: E402
from tests.test_serve_command import HAPPY, Server, request  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TOKEN = "from-the-environment"
QUEUE = 1
MAX_UPLOAD_MB = 1
MAX_MEGAPIXELS = 2
NUM_FACES = 1
OTHER_DEFAULT = "mesh_hgb"  # the copied models folder's default, not the package's


def png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """The bundled models without gnn, with another default."""
    folder = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(bundled_models_dir(), folder)
    shutil.rmtree(folder / "gnn")
    spec = json.loads((folder / SERVING_FILE).read_text())
    assert spec["default_approach"] != OTHER_DEFAULT
    (folder / SERVING_FILE).write_text(json.dumps({**spec, "default_approach": OTHER_DEFAULT}))
    return folder


@pytest.fixture(scope="module")
def server(models_dir):
    server = Server("--queue", str(QUEUE), "--max-upload-mb", str(MAX_UPLOAD_MB), "--max-megapixels",
                    str(MAX_MEGAPIXELS), "--num-faces", str(NUM_FACES), "--models-dir", str(models_dir),
                    env={"MESHFER_TOKEN": TOKEN})
    server.wait_ready()
    yield server
    if server.process.poll() is None:
        server.stop()


def post(server, body: bytes, query: str = "", token: str | None = TOKEN):
    return request(f"{server.url}/v1/predict{query}", body, "image/png" if body[:4] == b"\x89PNG" else "image/jpeg",
                   token=token)


def test_the_token_comes_from_meshfer_token(server):
    assert post(server, HAPPY, token=None)[0] == 401
    assert post(server, HAPPY, token="t0ken-for-tests")[0] == 401
    assert post(server, HAPPY)[0] == 200


def test_models_dir_serves_that_folder_and_its_default(server):
    status, body, _ = request(f"{server.url}/v1/models", token=TOKEN)
    assert status == 200 and body["default"] == OTHER_DEFAULT
    assert sorted(a["name"] for a in body["approaches"]) == ["aligned_cnn", "ensemble", "mesh_hgb"]
    assert post(server, HAPPY, "?approach=gnn")[0] == 400


def test_num_faces_caps_the_faces_of_a_request(server, two_faces):
    status, body, _ = post(server, png(two_faces))
    assert status == 200 and len(body["faces"]) == NUM_FACES  # the picture has two: the default cap (4) shows both
    assert post(server, png(two_faces), f"?num_faces={NUM_FACES + 1}")[0] == 400


def test_max_upload_mb_refuses_a_larger_body(server):
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)  # ~1.4 MiB as PNG
    body = png(noise)
    assert MAX_UPLOAD_MB * 2**20 < len(body) < 10 * 2**20  # refused by the flag, not by the default 10 MiB
    status, answer, _ = post(server, body)
    assert status == 413 and answer["error"]
    assert post(server, png(noise[:400, :400]))[0] == 200  # 0.5 MiB: under the limit


def test_max_megapixels_refuses_a_larger_picture_from_its_header(server):
    over = np.full((1500, 1500), 128, np.uint8)  # 2.25 MP, a few kB as PNG
    status, answer, _ = post(server, png(over))
    assert status == 413 and answer["error"] and f"{MAX_MEGAPIXELS}" in answer["error"]
    status, answer, _ = post(server, png(over[:1300, :1300]))  # 1.69 MP
    assert status == 200 and answer["faces"] == []


def test_a_burst_beyond_the_queue_gets_503_with_retry_after(server):
    """QUEUE + 1 requests may be in progress; the rest of a burst that arrives at once is turned away. Each client
    sends its headers first, then all bodies leave together."""
    clients = 8
    barrier, answers = threading.Barrier(clients), [None] * clients

    def client(k: int):
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
            s.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Authorization: Bearer {TOKEN}\r\nContent-Type: image/jpeg\r\n"
                      f"Content-Length: {len(HAPPY)}\r\nConnection: close\r\n\r\n".encode())
            barrier.wait()
            s.sendall(HAPPY)
            answers[k] = receive_all(s)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    statuses = [int(a.split(b" ", 2)[1]) for a in answers]
    busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    assert statuses.count(200) >= 1 and len(busy) >= clients - 2 * (QUEUE + 1), statuses
    assert all(b"\r\nretry-after: 1\r\n" in a.lower() for a in busy)
    assert post(server, HAPPY)[0] == 200  # served normally once the burst is over


@pytest.mark.parametrize("query, size, status, says", [
    ("?no_such_option=1", 1 << 20, 400, b"no_such_option"),
    ("", (MAX_UPLOAD_MB << 20) * 3 // 2, 413, b"body too large"),
])
def test_a_request_refused_before_its_upload_is_read_still_gets_its_answer(server, query, size, status, says):
    """The refusal comes before the body is read (an unknown parameter; a Content-Length over --max-upload-mb); a
    client that is still sending its upload must get the answer, not a connection reset or a broken pipe (which a
    server closing with unread bytes causes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        s.sendall(f"POST /v1/predict{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"Authorization: Bearer {TOKEN}\r\nContent-Type: image/jpeg\r\n"
                  f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode())
        time.sleep(0.5)  # the server has decided by now
        s.sendall(bytes(size))
        answer = receive_all(s)
    assert answer.startswith(f"HTTP/1.1 {status}".encode()) and says in answer, answer[:300]


def receive_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_the_stream_drops_what_a_fast_sender_outruns_it_with(server):
    frames = 20
    with connect(f"ws://127.0.0.1:{server.port}/v1/stream?eyes=false",
                 additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        for _ in range(frames):
            ws.send(HAPPY)
        answers = [json.loads(ws.recv(timeout=60))]
        while answers[-1]["frame"] != frames - 1:
            answers.append(json.loads(ws.recv(timeout=60)))  # a frame never answered fails here, not hangs
    assert answers[-1]["dropped"] > 0 and len(answers) < frames
    assert len(answers) + answers[-1]["dropped"] == frames


def test_ctrl_c_stops_it_cleanly(tmp_path):
    server = Server(env={"TMPDIR": str(tmp_path)})
    try:
        server.wait_ready()
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(timeout=30)
    finally:
        server.process.kill()
        server.reader.join(timeout=5)
    assert code == 0 and server.lines[-1] == "meshfer: stopped", server.lines
    assert not list(tmp_path.glob("meshfer-ready-*"))

"""Pictures with several people: `num_faces` caps the faces in the Recognizer, the command line and the API, and
face 0 is the one a single-face request keeps; in a video the person followed stays the same until another face is
clearly larger (the 0.7x area rule)."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from meshfer import Recognizer
from meshfer.video import SWITCH_AREA_RATIO, subject_rows
from tests.conftest import run_cli

BOX = ["x_min", "y_min", "x_max", "y_max"]


@pytest.fixture(scope="module")
def two_faces_png(two_faces, tmp_path_factory):
    path = tmp_path_factory.mktemp("two") / "two.png"
    Image.fromarray(two_faces).save(path)
    return path


def test_num_faces_in_the_recognizer_keeps_face_0(two_faces):
    with Recognizer(eyes=False) as every, Recognizer(eyes=False, num_faces=1) as one:
        both, first = every.predict(two_faces), one.predict(two_faces)
    assert len(both) == 2 and both["face"].tolist() == [0, 1]
    assert len(first) == 1 and first["face"].tolist() == [0]
    # face 0 is the same person either way, with the same answer
    np.testing.assert_allclose(first[BOX].to_numpy(float), both[BOX].to_numpy(float)[:1], atol=2)
    assert first["expression"].iloc[0] == both["expression"].iloc[0]


def test_num_faces_on_the_command_line(two_faces_png):
    rows = {}
    for n in ("1", "2"):
        code, out, err = run_cli("predict", two_faces_png, "--num-faces", n, "--json", "--no-eyes")
        assert code == 0, err
        rows[n] = json.loads(out)
    assert [r["face"] for r in rows["1"]] == [0] and [r["face"] for r in rows["2"]] == [0, 1]
    assert [rows["1"][0][k] for k in BOX] == pytest.approx([rows["2"][0][k] for k in BOX], abs=2)


def test_num_faces_in_the_api(two_faces_png):
    pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
    from tests.test_http_app import started

    client = started()
    try:
        body = two_faces_png.read_bytes()
        one = client.post("/v1/predict?num_faces=1", content=body, headers={"Content-Type": "image/png"}).json()
        both = client.post("/v1/predict", content=body, headers={"Content-Type": "image/png"}).json()
    finally:
        client.__exit__(None, None, None)
    assert len(one["faces"]) == 1 and len(both["faces"]) == 2
    assert one["faces"][0]["x_min"] == pytest.approx(both["faces"][0]["x_min"], abs=2)


def frames(areas_a: list[float], areas_b: list[float]) -> pd.DataFrame:
    """Two square faces per frame, A on the left and B on the right, with the given box areas."""
    rows = []
    for frame, (a, b) in enumerate(zip(areas_a, areas_b)):
        for face, (x, area) in enumerate(((0.0, a), (500.0, b))):
            side = area ** 0.5
            rows.append({"frame": frame, "timestamp_ms": 40 * frame, "face": face, "x_min": x, "y_min": 0.0,
                         "x_max": x + side, "y_max": side, "error": ""})
    return pd.DataFrame(rows)


def test_the_person_followed_switches_only_below_the_area_ratio():
    largest = 10000.0
    just_above, just_below = (SWITCH_AREA_RATIO + 0.02) * largest, (SWITCH_AREA_RATIO - 0.02) * largest
    table = frames([largest, just_above, just_above, just_below, largest, largest],
                   [largest * 0.9, largest, largest, largest, just_above, just_above])
    followed = subject_rows(table)["face"].tolist()
    # A first (the larger); kept while above 0.7x B; B once A falls below; then B kept although A is larger again
    assert followed == [0, 0, 0, 1, 1, 1]

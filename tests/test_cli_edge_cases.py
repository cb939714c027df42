"""What a second walkthrough of the command line and the API found (issue 22), one test each: nothing written over
an input, one path taken as one, special files never opened, damaged videos said so, a row for every input, no
library noise, one-line errors, and readable output."""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import run_cli, write_video


@pytest.fixture(scope="module")
def recognizer():
    from meshfer.recognizer import Recognizer

    with Recognizer(approach="mesh_hgb") as rec:
        yield rec


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory, two_faces):
    """60 frames of one face (MJPG .avi, 10 fps)."""
    face = np.ascontiguousarray(two_faces[:, :240])
    return write_video(tmp_path_factory.mktemp("clip") / "face.avi", [face] * 60, fps=10)


def test_annotate_into_the_input_folder_never_writes_over_an_input(tmp_path, face_image):
    photo = tmp_path / "photo.jpg"
    Image.open(face_image).convert("RGB").save(photo, quality=90)
    before = photo.read_bytes()
    code, _, err = run_cli("predict", photo, "--annotate", tmp_path, "--json")
    assert code == 0, err
    assert photo.read_bytes() == before
    annotated = tmp_path / "photo.annotated.jpg"
    assert Image.open(annotated).format == "JPEG"  # a JPEG input stays a JPEG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.annotated.jpg", "photo.jpg"]


def test_annotating_a_video_in_place_leaves_the_files_beside_it(tmp_path, face_clip):
    clip = shutil.copy(face_clip, tmp_path / "clip.avi")
    (tmp_path / "clip.mp4").write_bytes(b"someone else's video")
    code, _, err = run_cli("predict", clip, "--annotate", tmp_path, "--json", "-o", tmp_path / "out.json")
    assert code == 0, err
    assert (tmp_path / "clip.mp4").read_bytes() == b"someone else's video"
    assert (tmp_path / "clip.annotated.mp4").stat().st_size > 1000


def test_one_path_is_one_path_not_its_characters(recognizer, face_image):
    table = recognizer.predict_many(str(face_image))
    assert list(table["path"].unique()) == [str(face_image)] and (table["error"] == "").all()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_in_a_folder_is_not_opened_and_has_a_row(tmp_path, face_image, recognizer):
    shutil.copy(face_image, tmp_path / "face.png")
    os.mkfifo(tmp_path / "pipe")  # reading it would block for ever
    os.mkfifo(tmp_path / "pipe.jpg")
    code, out, err = run_cli("predict", tmp_path, "--csv", timeout=60)
    rows = pd.read_csv(pd.io.common.StringIO(out), keep_default_na=False)
    assert code == 1
    assert dict(zip(rows["path"].map(lambda p: p.rsplit("/", 1)[1]), rows["error"])) == {
        "face.png": "", "pipe": "not a regular file", "pipe.jpg": "not a regular file"}
    assert f"{tmp_path / 'pipe'}: not a regular file" in err
    api = recognizer.predict_many([tmp_path])
    assert sorted(api["error"]) == ["", "not a regular file", "not a regular file"]


def test_a_damaged_video_says_how_much_was_read(tmp_path, face_clip):
    damaged = tmp_path / "half.avi"
    data = face_clip.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli("predict", damaged, "--json", "--summary", tmp_path / "s.json")
    records = json.loads(out)
    last = records[-1]
    assert code == 1 and last["frame"] is None
    assert last["error"].startswith("the video ended early: ") and "of the 60 frames" in last["error"]
    assert err.strip().splitlines() == [f"meshfer: {damaged}: {last['error']}"]
    frames_read = int(last["error"].split(": ")[1].split()[0])
    assert 0 < frames_read < 60 and len({r["frame"] for r in records[:-1]}) == frames_read
    assert json.loads((tmp_path / "s.json").read_text())[str(damaged)]["frames"] == frames_read


def test_every_input_gets_a_csv_row(tmp_path, face_image):
    (tmp_path / "noise.mp4").write_bytes(os.urandom(4000))
    code, out, err = run_cli("predict", face_image, tmp_path / "nosuch.jpg", tmp_path / "noise.mp4", "--csv")
    rows = pd.read_csv(pd.io.common.StringIO(out), keep_default_na=False)
    assert code == 1
    assert list(rows["error"]) == ["", "no such file or folder", "cannot open the video (unreadable or not a video)"]
    assert len(err.strip().splitlines()) == 2 and "moov atom" not in err  # FFmpeg's own lines are not shown


def test_no_library_noise_on_stderr(tmp_path):
    huge = tmp_path / "huge.png"  # 100 MP: above Pillow's warning threshold, below meshfer's limit
    Image.fromarray(np.zeros((10000, 10000), np.uint8)).save(huge)
    blank = write_video(tmp_path / "blank.avi", [np.zeros((64, 64, 3), np.uint8)] * 5)
    code, _, err = run_cli("predict", huge, "--json")
    assert code == 0 and err == ""
    code, _, err = run_cli("predict", blank, "--plot", tmp_path / "t.png", "--json")
    assert code == 0 and err == "" and (tmp_path / "t.png").is_file()  # no matplotlib warning for an empty legend


def test_a_file_that_is_no_landmarker_is_one_line(tmp_path, face_image):
    code, _, err = run_cli("predict", face_image, "--landmarker", face_image, "--unsafe-landmarker")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "is not a usable face landmarker model" in err
    code, _, err = run_cli("predict", face_image, "--landmarker", face_image)
    assert code == 2 and "--unsafe-landmarker" in err  # the message names the flag that overrides it


def test_plot_with_one_video_is_that_file(tmp_path, face_clip):
    code, _, err = run_cli("predict", face_clip, "--plot", tmp_path / "t.jpg", "--json")
    assert code == 0, err
    assert (tmp_path / "t.jpg").is_file() and Image.open(tmp_path / "t.jpg").format == "JPEG"
    code, _, err = run_cli("predict", face_clip, "--plot", tmp_path / "t.txt")
    assert code == 2 and "name a picture" in err


def test_evaluate_prints_a_readable_report_and_matches_folders_whatever_their_case(tmp_path, face_images):
    for folder, image in (("Happiness", face_images[0]), ("NEUTRAL", face_images[1]), ("contempt", face_images[2])):
        (tmp_path / folder).mkdir()
        shutil.copy(image, tmp_path / folder)
    code, out, err = run_cli("evaluate", tmp_path, "--approach", "mesh_hgb", "-o", tmp_path / "e.json")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path}: 2 images, approach mesh_hgb" and lines[1].startswith("accuracy ")
    assert lines[3].split()[:3] == ["true", "\\", "predicted"] and lines[3].split()[-2:] == ["face", "recall"]
    assert len(lines) == 4 + 7 + 1 and lines[-1] == "folders not scored (no such label; see --alias): contempt"
    report = json.loads((tmp_path / "e.json").read_text())
    assert np.array(report["confusion"]["counts"]).sum() == report["images"] == 2


def png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header declares width x height (gray) and whose pixels are missing: never decoded anyway."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))


def test_the_command_line_limit_is_the_library_default():
    from meshfer.cli import MAX_MEGAPIXELS
    from meshfer.imageio import MAX_PIXELS

    assert MAX_MEGAPIXELS * 1e6 == MAX_PIXELS  # kept apart only so that `meshfer --help` imports neither Pillow


def test_too_large_images_say_so_with_the_limit(tmp_path, face_image):
    png_header_only(tmp_path / "192mp.png", 16000, 12000)
    code, out, err = run_cli("predict", tmp_path / "192mp.png", "--json")
    assert code == 1
    assert json.loads(out)[0]["error"] == "image too large (16000x12000 = 192 MP, limit 120 MP)"
    # meshfer's limit is the one that counts, above Pillow's own ceiling (179 MP) too: the size passes, and the
    # header-only file is then found to have no pixels
    code, out, err = run_cli("predict", tmp_path / "192mp.png", "--max-megapixels", "250", "--json")
    assert code == 1 and json.loads(out)[0]["error"].startswith("corrupt or truncated image"), out
    code, out, err = run_cli("predict", face_image, "--max-megapixels", "0.0001", "--json")
    assert code == 1 and "image too large (" in json.loads(out)[0]["error"] and "limit 0.0001 MP)" in err


def test_an_animated_gif_is_said_to_be_scored_on_its_first_frame(tmp_path, face_image):
    face = Image.open(face_image).convert("RGB")
    face.save(tmp_path / "anim.gif", save_all=True, append_images=[face.rotate(5), face.rotate(10)])
    code, out, err = run_cli("predict", tmp_path / "anim.gif", "--json")
    assert code == 0 and json.loads(out)[0]["expression"]
    assert err.strip() == f"meshfer: {tmp_path / 'anim.gif'}: an animation of 3 frames; only its first frame is " \
                          "scored (convert it to a video for all of them)"


def test_api_messages_point_to_what_to_do(face_image, face_clip):
    from meshfer.imageio import ImageReadError
    from meshfer.recognizer import Recognizer

    rec = Recognizer(approach="mesh_hgb")
    with pytest.raises(ImageReadError, match="use predict_video"):
        rec.predict(face_clip)
    rec.close()
    with pytest.raises(RuntimeError, match="closed .* make a new Recognizer"):
        rec.predict(face_image)
    code, _, err = run_cli("predict", face_image, "-j", "0")
    assert code == 2 and "-j counts processes, this one included" in err


def test_webcam_without_a_camera_is_one_line():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "meshfer.cli", "webcam", "--camera", "7"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DISPLAY": ":99"})  # a display is named
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["meshfer: error: camera 7 cannot be opened (no camera, or in use)"]

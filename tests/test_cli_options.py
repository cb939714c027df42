"""Command-line options whose effect was only assumed: what `--annotate` draws, `evaluate --alias`, `-j N`, and the
webcam loop itself (on a synthetic camera: a video file behind camera index 0)."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from meshfer.cli import main
from meshfer.drawing import LABEL_BACKGROUND
from tests.conftest import run_cli, write_video

BOX = ["x_min", "y_min", "x_max", "y_max"]
MESH_GREEN = (0, 255, 0)  # RGB of the mesh outline draw() paints
BOX_COLOUR = tuple(reversed(LABEL_BACKGROUND))  # draw() works in BGR


def close_to(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(rgb)).sum(axis=-1) <= tolerance)


def test_annotate_draws_the_box_mesh_and_label_where_the_face_is_and_nothing_elsewhere(photo, tmp_path):
    source = tmp_path / "in" / "portrait.png"
    source.parent.mkdir()
    Image.open(photo).convert("RGB").save(source)
    code, out, err = run_cli("predict", source, "--annotate", tmp_path / "out", "--json")
    assert code == 0, err
    face = json.loads(out)[0]
    x0, y0, x1, y1 = (int(round(face[k])) for k in BOX)
    before = np.asarray(Image.open(source).convert("RGB"))
    after = np.asarray(Image.open(tmp_path / "out" / "portrait.png").convert("RGB"))
    assert after.shape == before.shape
    left_edge = after[y0 + 5:y1 - 5, max(0, x0 - 1):x0 + 2]
    assert close_to(left_edge, BOX_COLOUR).any(axis=1).mean() > 0.9  # the box is drawn along the face's edge
    inside = after[y0:y1, x0:x1]
    assert close_to(inside, MESH_GREEN).sum() > 200 and not close_to(before[y0:y1, x0:x1], MESH_GREEN).any()
    label = after[max(0, y0 - 40):y0, x0:x1]  # the label's filled background, above the box
    assert close_to(label, BOX_COLOUR).mean() > 0.3
    changed = np.abs(after.astype(int) - before.astype(int)).sum(axis=-1) > 60
    below = y1 + 10  # the box's line is a few pixels wide; the label sits above the box
    assert below < changed.shape[0] - 100 and not changed[below:].any()  # nothing drawn away from the face


def test_evaluate_alias_maps_a_folder_name_to_a_label(face_images, tmp_path):
    (tmp_path / "set" / "joyful").mkdir(parents=True)
    shutil.copy(face_images[0], tmp_path / "set" / "joyful" / face_images[0].name)
    code, _, err = run_cli("evaluate", tmp_path / "set", "--no-eyes", "-o", tmp_path / "without.json")
    assert code == 2 and "joyful" in err  # an unknown folder name: nothing to score
    code, _, err = run_cli("evaluate", tmp_path / "set", "--alias", "joyful=happy", "--no-eyes", "-o",
                           tmp_path / "with.json")
    assert code == 0, err
    scores = json.loads((tmp_path / "with.json").read_text())
    assert scores["images"] == 1 and scores["unknown_folders"] == [] and scores["per_class"]["happy"]["support"] == 1


def test_jobs_through_the_command_line_give_the_same_rows(face_images, tmp_path):
    for i in range(6):
        for path in face_images:
            shutil.copy(path, tmp_path / f"{i}_{path.name}")
    outputs = {}
    for jobs in ("1", "2"):
        code, out, err = run_cli("predict", tmp_path, "-j", jobs, "--json", "--no-eyes")
        assert code == 0, err
        outputs[jobs] = json.loads(out)
    assert len(outputs["1"]) == 6 * len(face_images)
    assert outputs["2"] == outputs["1"]


@pytest.fixture
def camera(monkeypatch, two_faces, tmp_path):
    """Camera 0 is a 6-frame video of two people; the window is a list of the frames shown."""
    import cv2

    clip = write_video(tmp_path / "camera.avi", [np.roll(two_faces, 3 * i, axis=1) for i in range(6)])
    real = cv2.VideoCapture
    monkeypatch.setattr(cv2, "VideoCapture", lambda source, *a: real(str(clip)) if source == 0 else real(source, *a))
    shown = []
    monkeypatch.setattr(cv2, "imshow", lambda name, frame: shown.append(frame.copy()))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: -1)
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    monkeypatch.setenv("DISPLAY", ":99")
    return clip, shown


def test_the_webcam_loop_shows_every_frame_with_its_labels(camera):
    import cv2

    clip, shown = camera
    assert main(["webcam", "--camera", "0", "--no-eyes"]) == 0
    capture = cv2.VideoCapture(str(clip))
    raw = [capture.read()[1] for _ in range(6)]
    capture.release()
    assert len(shown) == 6  # every frame of the camera, until it ends
    for frame, original in zip(shown, raw):
        drawn = close_to(frame[..., ::-1], BOX_COLOUR)  # BGR as shown -> RGB
        assert drawn.sum() > 500 and not close_to(original[..., ::-1], BOX_COLOUR).sum() > 50

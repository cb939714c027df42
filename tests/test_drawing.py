"""meshfer.drawing: the labels stay inside the picture and read on any background, a frame without a face says so,
and annotated copies land where they overwrite nothing. `meshfer predict --annotate` end to end: tests/test_cli*.py."""
from pathlib import Path

import numpy as np
import pandas as pd

from meshfer.drawing import LABEL_BACKGROUND, annotated_path, draw


def test_label_is_drawn_inside_the_image():
    bgr = np.full((200, 200, 3), 128, np.uint8)
    row = pd.DataFrame([{"face": 0, "x_min": 190.0, "y_min": 5.0, "x_max": 199.0, "y_max": 30.0,
                         "expression": "surprise", "expression_score": 0.99,
                         "left_eye": "narrowed", "right_eye": "narrowed"}])
    canvas = draw(bgr, row)
    drawn = np.argwhere((canvas != 128).any(axis=2))
    assert drawn[:, 1].max() < canvas.shape[1] and drawn[:, 1].min() < 100  # moved left to fit, not cut off
    text = np.argwhere((canvas.sum(axis=2) == 0)[:40])  # black letters on the filled label
    background = np.argwhere((canvas == LABEL_BACKGROUND).all(axis=2)[:40])
    assert len(text) > 50 and len(background) > 5 * len(text) / 2


def test_a_frame_without_a_face_is_marked():
    canvas = draw(np.full((240, 320, 3), 128, np.uint8), pd.DataFrame())
    assert (canvas != 128).any(axis=2)[:40, :120].sum() > 200  # the "no face" label, top left


def test_annotated_copies_keep_their_folders_and_never_collide(tmp_path):
    inputs = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "clip.avi"]
    roots = [tmp_path / "a", tmp_path / "b", tmp_path / "clip.avi"]
    for path in inputs:
        path.parent.mkdir(exist_ok=True)
        path.touch()
    out, taken = tmp_path / "out", {p.resolve() for p in inputs}
    assert annotated_path(inputs[0], out, roots, taken=taken) == out / "a" / "x.jpg"
    assert annotated_path(inputs[1], out, roots, taken=taken) == out / "b" / "x.jpg"
    assert annotated_path(inputs[2], out, roots, ".mp4", taken) == out / "clip.mp4"
    # into the inputs' own folder: a name of its own beside the input, then -2 for a second copy of the same name
    beside = annotated_path(inputs[2], tmp_path, roots, ".mp4", taken)
    assert beside == tmp_path / "clip.annotated.mp4"
    assert annotated_path(inputs[2], tmp_path, roots, ".mp4", taken) == tmp_path / "clip.annotated-2.mp4"
    assert Path(beside).resolve() in taken

"""Videos: faces followed across frames, the per-video summary, the timeline picture."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from meshfer.imageio import read_rgb
from meshfer.labels import EXPRESSIONS
from meshfer.video import FaceTracks, plot_timeline, subject_rows, video_summary
from tests.video_clips import clip_from_faces


def test_tracks_keep_numbers_through_motion_gaps_and_order_changes():
    tracks = FaceTracks(smoothing=2)
    a, b = np.array([0.0, 0, 10, 10]), np.array([50.0, 0, 60, 10])
    p = np.eye(7)[:2]
    assert tracks.update(np.stack([a, b]), p)[0].tolist() == [0, 1]
    ids, smoothed = tracks.update(np.stack([b + 2, a + 1]), p[::-1])  # listed the other way round, moved a little
    assert ids.tolist() == [1, 0]
    np.testing.assert_allclose(smoothed[1], p[0])  # face 0 said the same twice: its average is unchanged
    assert tracks.update(np.zeros((0, 4)), np.zeros((0, 7)))[0].tolist() == []  # a frame without faces
    assert tracks.update(np.stack([a]), p[:1])[0].tolist() == [0]  # back after the gap: the same number
    assert tracks.update(np.stack([a + 200]), p[:1])[0].tolist() == [2]  # somewhere else: a new face


def test_smoothing_must_be_positive():
    with pytest.raises(ValueError, match="smoothing"):
        FaceTracks(smoothing=0)


def _frames_table() -> pd.DataFrame:
    rows = []
    for frame in range(10):
        if frame in (4, 5):
            rows.append({"frame": frame, "timestamp_ms": 40 * frame, "face": pd.NA, "error": "no face found"})
            continue
        label = "happy" if frame < 4 else "sad"
        proba = {f"p_{n}": float(n == label) for n in EXPRESSIONS}
        rows.append({"frame": frame, "timestamp_ms": 40 * frame, "face": 0, "x_min": 10.0, "y_min": 10.0,
                     "x_max": 110.0, "y_max": 110.0, "expression": label, **proba,
                     "left_eye_openness": 0.7, "right_eye_openness": 0.6, "error": ""})
        if frame == 2:  # a passer-by, seen once, smaller
            rows.append({**rows[-1], "face": 1, "x_min": 150.0, "x_max": 190.0, "expression": "angry"})
    table = pd.DataFrame(rows)
    table["face"] = table["face"].astype("Int64")
    return table


def test_summary_follows_the_subject_and_counts_frames_without_a_face():
    summary = video_summary(_frames_table())
    assert summary["frames"] == 10 and summary["face_found_share"] == 0.8
    assert summary["expression_share"]["happy"] == 0.5 and summary["expression_share"]["sad"] == 0.5
    assert summary["expression_share"]["angry"] == 0.0
    subject = subject_rows(_frames_table())
    assert len(subject) == 10 and set(subject["face"].dropna()) == {0}


def test_timeline_is_a_picture(tmp_path):
    plot_timeline(_frames_table(), tmp_path / "t.png", title="clip")
    assert Image.open(tmp_path / "t.png").size[0] > 800


def test_a_clip_of_dataset_faces_gives_its_expressions_over_time(fer_root, tmp_path):
    """A real clip built with OpenCV from FER-2013 test faces (a second each, a second without a face), through
    the command line: every frame accounted for, the summary and the timeline written."""
    faces = [read_rgb(sorted((fer_root / "test" / label).glob("PrivateTest_*.jpg"))[1])
             for label in ("happy", "surprise", "neutral")]
    clip = clip_from_faces(faces, tmp_path / "clip.avi", blank_after=1)
    plot, summary = tmp_path / "timeline.png", tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, "-m", "meshfer.cli", "predict", str(clip), "--json", "--smoothing", "5",
                           "--plot", str(plot), "--summary", str(summary)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert sorted({r["frame"] for r in records}) == list(range(100))
    assert {r["error"] for r in records if 50 <= r["frame"] < 75} == {"no face found"}
    facts = json.loads(summary.read_text())[str(clip)]
    assert facts["face_found_share"] >= 0.7 and Image.open(plot).size[0] > 800
    # Each face's second says that face's expression: the one the Recognizer gives the face as a still picture,
    # for most of its frames; and the expressions change as the faces do.
    from meshfer import Recognizer

    with Recognizer(eyes=False) as recognizer:
        stills = [recognizer.predict(face)["expression"].iloc[0] for face in faces]
    segments = [range(0, 25), range(25, 50), range(75, 100)]
    for still, frames in zip(stills, segments):
        said = pd.Series([r["expression"] for r in records if r["frame"] in frames and r["error"] == ""])
        assert len(said) >= 20 and (said == still).mean() >= 0.6, (still, said.value_counts().to_dict())
    assert len(set(stills)) >= 2, stills

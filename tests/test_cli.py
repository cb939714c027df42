"""`meshfer` as a user meets it: readable output, fast one-line failures, videos, annotations."""
import csv
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meshfer.cli import main
from meshfer.labels import EXPRESSIONS, EYE_STATES
from tests.conftest import run_cli, schema_validator, write_video

SCHEMA = schema_validator("predictions.schema.json")
SUMMARY_SCHEMA = schema_validator("video_summary.schema.json")


@pytest.fixture(scope="module")
def clip(tmp_path_factory, two_faces):
    """A 12-frame video of two people moving, with two empty frames in the middle."""
    frames = [np.roll(two_faces, 4 * i, axis=1) for i in range(12)]
    frames[5] = frames[6] = np.zeros_like(two_faces)
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames)


def test_terminal_gets_a_short_table(face_images):
    code, out, err = run_cli("predict", *face_images)
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ["path", "face", "box", "expression", "expression_score", "left_eye", "right_eye", "error"]
    assert len(out.splitlines()) == 1 + len(face_images) and err == ""  # no library log lines
    for line in out.splitlines()[1:]:
        path, face, box, expression, score, left, right = line.split()
        assert expression in EXPRESSIONS and 1 / len(EXPRESSIONS) < float(score) <= 1
        assert face == "0" and {left, right} <= set(EYE_STATES)
        x_min, y_min, x_max, y_max = map(int, box.split(","))
        assert x_min < x_max and y_min < y_max


def test_json_validates_keeps_integers_and_does_not_escape_slashes(face_images, blank_png):
    code, out, err = run_cli("predict", *face_images[:2], blank_png, "--json")
    assert code == 0, err
    records = json.loads(out)
    SCHEMA.validate(records)
    assert "\\/" not in out and records[0]["face"] == 0 and isinstance(records[0]["face"], int)
    assert records[-1]["error"] == "no face found" and records[-1]["face"] is None
    assert list(records[0]) == ["path", "face", "x_min", "y_min", "x_max", "y_max", "expression",
                                "expression_score", *[k for k in records[0] if k.startswith("p_")], "left_eye",
                                "right_eye", "left_eye_openness", "right_eye_openness", "error"]
    assert all(float(f"{v:.6g}") == v for v in records[0].values() if isinstance(v, float))  # 6 significant digits


def test_output_format_follows_the_extension(face_image, tmp_path):
    for name, check in (("out.csv", lambda text: next(csv.reader(io.StringIO(text)))[:2] == ["path", "face"]),
                        ("out.json", lambda text: json.loads(text)[0]["face"] == 0)):
        code, out, err = run_cli("predict", face_image, "-o", tmp_path / name)
        assert code == 0 and out == "" and check((tmp_path / name).read_text()), err
    row = next(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert row["face"] == "0" and float(f"{float(row['p_happy']):.6g}") == float(row["p_happy"])  # 6 digits, as JSON
    code, _, err = run_cli("predict", face_image, "-o", tmp_path / "out.xlsx")
    assert code == 2 and "cannot tell the format" in err


def test_a_video_alone_gives_rows_for_every_frame_a_summary_and_a_timeline(clip, tmp_path):
    plot, summary = tmp_path / "timeline.png", tmp_path / "summary.json"
    code, out, err = run_cli("predict", clip, "--json", "--smoothing", "3", "--plot", plot, "--summary", summary)
    assert code == 0, err
    records = json.loads(out)
    SCHEMA.validate(records)
    assert list(records[0])[:4] == ["path", "frame", "timestamp_ms", "face"] and list(records[0])[-1] == "error"
    frames = {r["frame"] for r in records}
    assert frames == set(range(12))
    assert [r["error"] for r in records if r["frame"] in (5, 6)] == ["no face found"] * 2
    assert Image.open(plot).size[0] > 500
    SUMMARY_SCHEMA.validate(json.loads(summary.read_text()))
    facts = json.loads(summary.read_text())[str(clip)]
    assert facts["frames"] == 12 and facts["face_found_share"] == round(10 / 12, 4)
    assert sum(facts["expression_share"].values()) == pytest.approx(1, abs=1e-3)


def test_video_summary_in_the_terminal_table(clip):
    code, out, err = run_cli("predict", clip)
    assert code == 0, err
    assert f"{clip}: 12 frames, face found in 83%" in out


def test_annotate_keeps_relative_paths_draws_videos_and_keeps_labels_inside(tmp_path, face_image, clip):
    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(face_image, tmp_path / "in" / folder / "x.png")
    shutil.copy(clip, tmp_path / "in" / "a" / "clip.avi")
    out = tmp_path / "annotated"
    code, _, err = run_cli("predict", tmp_path / "in" / "a", tmp_path / "in" / "b", "--annotate", out, "--json")
    assert code == 0, err
    assert (out / "a" / "x.png").is_file() and (out / "b" / "x.png").is_file()
    assert (out / "a" / "clip.mp4").stat().st_size > 1000


def test_bad_inputs_one_line_each_and_the_rest_kept(face_image, tmp_path):
    (tmp_path / "fake.jpg").write_text("not an image")
    code, out, err = run_cli("predict", face_image, tmp_path / "fake.jpg", tmp_path / "absent.png", "--json")
    assert code == 1
    records = json.loads(out)  # every input has a row, the missing one too
    assert [(Path(r["path"]).name, r["error"]) for r in records] == [
        (face_image.name, ""), ("fake.jpg", "not an image file (unrecognised format)"),
        ("absent.png", "no such file or folder")]
    assert sorted(err.strip().splitlines()) == sorted([f"meshfer: {tmp_path / 'absent.png'}: no such file or folder",
                                                       f"meshfer: {tmp_path / 'fake.jpg'}: not an image file "
                                                       "(unrecognised format)"])


def test_empty_folder_is_a_failure_and_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("predict", tmp_path / "empty")
    assert code == 1 and err == f"meshfer: {tmp_path / 'empty'}: no images or videos in this folder\n"
    assert out.split() == ["path", "error", str(tmp_path / "empty"), *"no images or videos in this folder".split()]


def test_folder_reports_skipped_files_and_reads_images_without_a_suffix(tmp_path, face_image):
    (tmp_path / "f").mkdir()
    shutil.copy(face_image, tmp_path / "f" / "portrait")
    (tmp_path / "f" / "notes.txt").write_text("x")
    code, out, err = run_cli("predict", tmp_path / "f", "--json")
    assert code == 0 and json.loads(out)[0]["path"].endswith("portrait")
    assert "skipped 1 file(s) that are neither images nor videos (notes.txt)" in err


@pytest.mark.parametrize("args, message", [
    (["evaluate", "/nonexistent"], "no such folder"),
    (["evaluate", ".", "--alias", "x"], "expected FOLDER=LABEL"),
    (["evaluate", ".", "--alias", "x=joy"], "unknown label 'joy'"),
    (["predict", "x.jpg", "--num-faces", "0"], "must be 1 or more"),
    (["predict", "x.jpg", "-o", "/nonexistent_dir/o.json"], "does not exist"),
    (["predict", "x.jpg", "--approach", "cnn"], "unknown; available"),
    (["predict", "x.jpg", "--models-dir", "/nonexistent"], "no such folder"),
    (["predict", "x.jpg", "--unsafe-landmarker"], "needs --landmarker"),
])
def test_bad_arguments_fail_fast_in_one_line(args, message):
    start = time.perf_counter()
    code, out, err = run_cli(*args)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 3
    assert time.perf_counter() - start < 5  # nothing is loaded first (typically 0.2 s; generous on a busy CI)


def test_corrupt_model_dir_is_one_line(tmp_path, face_image):
    (tmp_path / "pca_svm").mkdir()
    (tmp_path / "pca_svm" / "card.json").write_text('{"task": "expression", "approach": "pca_svm"}')
    code, _, err = run_cli("predict", face_image, "--models-dir", tmp_path, "--approach", "pca_svm")
    assert code == 2 and err.startswith("meshfer: error:") and "Traceback" not in err


def test_wrong_landmarker_file_and_the_unsafe_override(tmp_path, face_image):
    from meshfer.landmarker import bundled_model_path

    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(bundled_model_path().read_bytes() + b"\0")
    code, _, err = run_cli("predict", face_image, "--landmarker", bad)
    assert code == 2 and "SHA-256" in err and "--unsafe-landmarker" in run_cli("predict", "--help")[1]
    code, out, err = run_cli("predict", face_image, "--landmarker", bad, "--unsafe-landmarker", "--json")
    assert code == 0 and json.loads(out)[0]["expression"], err


def test_webcam_without_display(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["webcam"]) == 2
    assert "no display" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["predict"], ["evaluate"], ["webcam"]])
def test_help(command):
    code, out, _ = run_cli(*command, "--help")
    assert code == 0 and "usage: meshfer" in out


def test_evaluate_scores_a_labelled_folder_against_the_recognizer(face_images, tmp_path, blank_png):
    """A cross-dataset check on a hand-made set: other folder names, a face-less image, an unknown label."""
    from meshfer.recognizer import Recognizer

    picked = {"happiness": face_images[0], "surprised": face_images[2]}  # named as other datasets name them
    for folder, path in picked.items():
        (tmp_path / "set" / folder).mkdir(parents=True)
        shutil.copy(path, tmp_path / "set" / folder / path.name)
    shutil.copy(blank_png, tmp_path / "set" / "happiness" / "blank.png")
    (tmp_path / "set" / "contempt").mkdir()
    shutil.copy(face_images[1], tmp_path / "set" / "contempt" / "x.jpg")
    code, out, err = run_cli("evaluate", tmp_path / "set", "--approach", "mesh_hgb", "--no-eyes", "-o",
                             tmp_path / "scores.json")
    assert code == 0, err
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["images"] == 3 and scores["unknown_folders"] == ["contempt"]
    assert scores["errors"] == {"no face found": 1} and scores["no_face_rate"] == round(1 / 3, 4)
    with Recognizer("mesh_hgb", eyes=False) as rec:  # the same images, one by one through the API
        correct = sum(rec.predict(p)["expression"].iloc[0] == label for label, p in
                      (("happy", picked["happiness"]), ("surprise", picked["surprised"])))
    assert scores["accuracy"] == round(correct / 3, 4)
    assert scores["per_class"]["happy"]["support"] == 2


def test_evaluate_refuses_a_folder_without_label_folders(tmp_path):
    code, _, err = run_cli("evaluate", tmp_path)
    assert code == 2 and "no images in folders named after labels" in err

import json
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest

from meshfer.cli import main

SCHEMA = json.loads((resources.files("meshfer") / "schemas" / "predictions.schema.json").read_text())


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "meshfer.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_predict_json_validates_against_schema(fer_sample, tmp_path, blank_png):
    code, out, err = run_cli("predict", *fer_sample[:3], blank_png, "--json")
    assert code == 0, err
    records = json.loads(out)
    jsonschema.validate(records, SCHEMA)
    assert len(records) == 4 and records[-1]["error"] == "no face found"


def test_csv_to_file_and_annotate(face_image, tmp_path):
    out, annotated = tmp_path / "out.csv", tmp_path / "annotated"
    code, _, err = run_cli("predict", face_image, "--csv", "-o", out, "--annotate", annotated,
                           "--approach", "blendshape_svm")
    assert code == 0, err
    header = out.read_text().splitlines()[0].split(",")
    assert header[:2] == ["path", "face"] and "expression" in header
    assert (annotated / f"{face_image.stem}.png").stat().st_size > 0


def test_bad_inputs_one_line_each_and_others_kept(face_image, tmp_path):
    (tmp_path / "fake.jpg").write_text("not an image")
    code, out, err = run_cli("predict", face_image, tmp_path / "fake.jpg", tmp_path / "absent.png")
    assert code == 1
    assert len(json.loads(out)) == 2  # the good image and the fake one's error row
    lines = err.strip().splitlines()
    assert any("absent.png: no such file" in line for line in lines)
    assert any("fake.jpg: not an image" in line for line in lines)
    assert "Traceback" not in err


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("predict", tmp_path / "empty")
    assert code == 0 and json.loads(out) == [] and "no images" in err


def test_corrupt_model_dir_is_one_line(tmp_path, face_image):
    (tmp_path / "pca_svm").mkdir()
    (tmp_path / "pca_svm" / "card.json").write_text("{not json")
    code, _, err = run_cli("predict", face_image, "--models-dir", tmp_path, "--approach", "pca_svm")
    assert code == 2 and err.startswith("meshfer: error:") and "Traceback" not in err


def test_video_with_zero_frames(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    code, out, err = run_cli("predict", tmp_path / "empty.mp4", "--no-eyes")
    assert code == 1 and "Traceback" not in err
    assert json.loads(out)[0]["error"]


def test_webcam_without_display(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["webcam"]) == 2
    assert "no display" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["predict"], ["webcam"]])
def test_help(command):
    code, out, _ = run_cli(*command, "--help")
    assert code == 0 and "usage: meshfer" in out


def test_evaluate_scores_a_labelled_folder_against_the_recognizer(fer_sample, tmp_path, blank_png):
    """A cross-dataset check on a hand-made set: other folder names, a face-less image, an unknown label."""
    import shutil

    import pandas as pd

    from meshfer.recognizer import Recognizer

    names = {"happy": "happiness", "surprise": "surprised"}  # as other datasets name them
    picked = [p for p in fer_sample if p.parent.name in names][:4]
    for path in picked:
        (tmp_path / "set" / names[path.parent.name]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "set" / names[path.parent.name] / path.name)
    shutil.copy(blank_png, tmp_path / "set" / "happiness" / "blank.png")
    (tmp_path / "set" / "contempt").mkdir()
    shutil.copy(picked[0], tmp_path / "set" / "contempt" / "x.jpg")
    code, out, err = run_cli("evaluate", tmp_path / "set", "--approach", "pca_svm", "--no-eyes", "-o",
                             tmp_path / "scores.json")
    assert code == 0, err
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["images"] == len(picked) + 1 and scores["unknown_folders"] == ["contempt"]
    assert scores["errors"] == {"no face found": 1} and scores["no_face_rate"] == round(1 / (len(picked) + 1), 4)
    with Recognizer("pca_svm", eyes=False) as rec:  # the same images, one by one through the API
        predicted = [rec.predict(p)["expression"].iloc[0] for p in picked]
    correct = sum(pred == p.parent.name for pred, p in zip(predicted, picked))
    assert scores["accuracy"] == round(correct / (len(picked) + 1), 4)
    assert pd.Series(scores["per_class"]["happy"]).get("support") == 1 + sum(p.parent.name == "happy" for p in picked)


def test_evaluate_refuses_a_folder_without_label_folders(tmp_path):
    code, _, err = run_cli("evaluate", tmp_path)
    assert code == 2 and "no images in folders named after labels" in err

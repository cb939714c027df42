"""The Python API on the bundled models: one object, one call, a tidy table."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from meshfer import Recognizer
from meshfer.card import ModelLoadError
from meshfer.imageio import ImageReadError, read_rgb
from meshfer.labels import EXPRESSIONS, EYE_STATES
from meshfer.recognizer import bundled_models_dir
from meshfer.runtime import SERVING_FILE, available_approaches
from tests.conftest import ROOT, write_video

PROBA = [f"p_{name}" for name in EXPRESSIONS]
SHIPPED = [a for a in yaml.safe_load((ROOT / "params.yaml").read_text())["serving"]["bundled"] if a != "eyes"]


@pytest.fixture(scope="module")
def recognizer():
    with Recognizer() as rec:
        yield rec


def test_bundled_models_are_onnx_files_with_cards():
    root = bundled_models_dir()
    assert sorted(available_approaches(root)) == sorted(SHIPPED)
    for approach in [*SHIPPED, "eyes"]:
        card = json.loads((root / approach / "card.json").read_text())
        assert card["labels"] and card["metrics"]["test"]["acc"] > 0
        if approach != "ensemble":
            assert (root / approach / "model.onnx").is_file() and card["file_sha256"]
            assert not list((root / approach).glob("*.skops")) and not list((root / approach).glob("*.keras"))
    default = json.loads((root / SERVING_FILE).read_text())["default_approach"]
    assert default in SHIPPED


def test_default_is_the_bundle_default(recognizer):
    assert recognizer.approach == json.loads((bundled_models_dir() / SERVING_FILE).read_text())["default_approach"]


def test_one_face_tidy_row(recognizer, photo):
    table = recognizer.predict(photo)
    assert list(table.columns) == recognizer.columns and len(table) == 1
    row = table.iloc[0]
    assert row["face"] == 0 and row["expression"] in EXPRESSIONS
    assert row[PROBA].sum() == pytest.approx(1, abs=1e-5)
    assert row["expression"] == EXPRESSIONS[int(np.argmax(row[PROBA].to_numpy(float)))]
    assert row["expression_score"] == pytest.approx(row[PROBA].max())
    assert row["left_eye"] in EYE_STATES and row["right_eye"] in EYE_STATES
    assert 0 <= row["left_eye_openness"] <= 1 and 0 <= row["right_eye_openness"] <= 1
    assert 0 <= row["x_min"] < row["x_max"] <= 512 and 0 <= row["y_min"] < row["y_max"] <= 512


def test_openness_grows_as_the_eye_opens(eyes_root):
    """0 closed .. 1 wide: closed eyes score lower than open ones on the labelled eye set."""
    with Recognizer() as rec:
        scores = {}
        for label in ("eye_closed", "eye_open", "eye_wide"):
            files = sorted((eyes_root / label).glob("*.jpg"))[:12]
            tables = [rec.predict(p) for p in files]
            scores[label] = np.mean([t[["left_eye_openness", "right_eye_openness"]].to_numpy().mean()
                                     for t in tables if len(t)])
    assert scores["eye_closed"] < scores["eye_open"] < scores["eye_wide"], scores


@pytest.mark.parametrize("convert, order", [
    (lambda rgb: rgb[:, :, 0], "RGB"),                       # gray
    (lambda rgb: rgb[:, :, ::-1], "BGR"),                    # OpenCV's order
    (lambda rgb: rgb.astype(np.uint16) * 257, "RGB"),        # 16 bit
    (lambda rgb: rgb.astype(np.float32) / 255, "RGB"),       # float in [0, 1]
    (lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGB"),  # RGBA
    (lambda rgb: Image.fromarray(rgb), "RGB"),               # PIL
])
def test_input_kinds_agree(recognizer, face_image, convert, order):
    rgb = read_rgb(face_image)
    expected = recognizer.predict(rgb)
    got = recognizer.predict(convert(rgb), channel_order=order)
    assert got["expression"].tolist() == expected["expression"].tolist()
    np.testing.assert_allclose(got[PROBA].to_numpy(float), expected[PROBA].to_numpy(float), atol=1e-5)


def test_two_faces_give_two_rows(recognizer, two_faces):
    table = recognizer.predict(two_faces)
    assert table["face"].tolist() == [0, 1]
    assert sorted(table["x_min"] < two_faces.shape[1] / 2) == [False, True]


def test_no_face_is_an_empty_table(recognizer, blank_png):
    table = recognizer.predict(blank_png)
    assert table.empty and list(table.columns) == recognizer.columns


def test_landmarks_on_request(recognizer, face_image):
    row = recognizer.predict(face_image, return_mesh=True).iloc[0]
    assert row["landmarks"].shape == (478, 3) and len(row["blendshapes"]) == 52


def test_bad_inputs(recognizer, tmp_path):
    (tmp_path / "t.jpg").write_text("text")
    with pytest.raises(ImageReadError, match="not an image"):
        recognizer.predict(tmp_path / "t.jpg")
    with pytest.raises(ImageReadError, match="no such file"):
        recognizer.predict(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="expected HxW"):
        recognizer.predict(np.zeros((4, 4, 5), np.uint8))


def test_many_files_keep_every_input(recognizer, face_images, tmp_path, blank_png):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(face_images[0], folder / "no_extension")  # a JPEG without a suffix is still an image
    (folder / "notes.txt").write_text("not an image")  # skipped: neither image nor video
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n")
    table = recognizer.predict_many([*face_images, folder, blank_png, tmp_path / "broken.png"], progress=False)
    assert list(table.columns) == ["path", *recognizer.columns, "error"]
    assert set(table["path"]) == {*map(str, face_images), str(folder / "no_extension"), str(blank_png),
                                  str(tmp_path / "broken.png")}
    errors = table.set_index("path")["error"]
    assert errors[str(blank_png)] == "no face found" and "not an image" in errors[str(tmp_path / "broken.png")]
    assert (errors[list(map(str, face_images))] == "").all() and errors[str(folder / "no_extension")] == ""
    assert str(table["face"].dtype) == "Int64" and table["face"].isna().sum() == 2  # integers stay integers
    assert table[PROBA].dtypes.eq(float).all()


def test_the_same_file_twice_is_read_once(recognizer, face_image):
    assert len(recognizer.predict_many([face_image, face_image], progress=False)) == 1


def test_an_input_that_gives_no_image_gets_a_row_saying_why(recognizer, tmp_path, face_image):
    (tmp_path / "empty").mkdir()
    given = [f"{tmp_path / 'empty'}/", face_image, str(tmp_path / "missing.jpg")]
    table = recognizer.predict_many(given, progress=False)
    assert table["path"].tolist() == [given[0], str(face_image), given[2]]  # in input order, as given
    assert table["error"].tolist() == ["no images in this folder", "", "no such file or folder"]
    assert recognizer.predict_many([], progress=False).empty


@pytest.mark.parametrize("approach", SHIPPED)
def test_every_shipped_approach_serves(face_image, approach):
    with Recognizer(approach=approach, eyes=False) as rec:
        table = rec.predict(face_image)
    assert len(table) == 1 and table[PROBA].sum(axis=1).iloc[0] == pytest.approx(1, abs=1e-5)
    assert "left_eye" not in table.columns


def test_unknown_approach_bad_models_dir_and_bad_num_faces(tmp_path):
    with pytest.raises(ValueError, match="unknown approach"):
        Recognizer(approach="cnn")
    with pytest.raises(ModelLoadError, match="no expression model"):
        Recognizer(models_dir=tmp_path)
    with pytest.raises(ValueError, match="num_faces"):
        Recognizer(num_faces=0)


def test_a_video_gives_a_row_per_frame_and_keeps_face_numbers(recognizer, two_faces, tmp_path):
    frames = [np.roll(two_faces, shift, axis=1) for shift in (0, 3, 6)] + [np.zeros_like(two_faces)] + \
             [np.roll(two_faces, 9, axis=1)]
    table = recognizer.predict_video(write_video(tmp_path / "clip.avi", frames), smoothing=2)
    assert table["frame"].tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 4]
    assert table.loc[table["frame"] == 3, "error"].tolist() == ["no face found"]
    faces = table.dropna(subset=["face"])
    left = faces[faces["x_min"] < two_faces.shape[1] / 2]
    assert left["face"].nunique() == 1 and faces["face"].nunique() == 2  # each person keeps a number
    assert table["timestamp_ms"].is_monotonic_increasing and str(table["frame"].dtype) == "Int64"


def test_small_video_frames_keep_their_faces(recognizer, face_images, tmp_path):
    """Frames of 48 px crops: detected as stills, so none is lost (MediaPipe's VIDEO mode lost half)."""
    crops = [np.asarray(Image.open(p).convert("RGB")) for p in face_images if p.stem.endswith("_48")]
    frames = [crops[i % len(crops)] for i in range(20)]
    table = recognizer.predict_video(write_video(tmp_path / "small.avi", frames))
    assert (table["error"] == "").sum() == 20


def test_predictions_match_pipeline_evaluation(pipeline_project):
    """The Recognizer on a pipeline's exported models labels test images as the evaluate stage did."""
    dest, _, _ = pipeline_project
    predictions = pd.read_parquet(dest / "data" / "predictions" / "mesh_hgb.parquet")
    sample = predictions[predictions["split"] == "test"].head(25)
    with Recognizer(approach="mesh_hgb", models_dir=dest / "models" / "serving", eyes=False) as rec:
        for row in sample.itertuples():
            table = rec.predict(dest / row.path)
            served = table["expression"].iloc[0] if len(table) else "no_face"
            assert served == row.predicted, row.path


def test_worker_processes_give_the_same_table_in_the_same_order(recognizer, face_images, tmp_path):
    from meshfer.recognizer import WORKER_CHUNK

    files = [tmp_path / f"{i:03d}{p.suffix}" for i, p in enumerate(face_images * (WORKER_CHUNK // 2 + 1))]
    for i, path in enumerate(files):
        shutil.copy(face_images[i % len(face_images)], path)
    sequential = recognizer.predict_many(files, progress=False)
    parallel = recognizer.predict_many(files, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(sequential, parallel)


def test_predict_faces_says_what_predict_says_without_pandas(recognizer, two_faces):
    faces = recognizer.predict_faces(two_faces)
    table = recognizer.predict(two_faces)
    assert len(faces) == len(table) == 2
    np.testing.assert_allclose(faces.boxes, table[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float))
    np.testing.assert_allclose(faces.proba, table[PROBA].to_numpy(float))
    assert faces.expressions == table["expression"].tolist()
    assert faces.eye_states == list(zip(table["left_eye"], table["right_eye"]))
    np.testing.assert_allclose(faces.openness, table[["left_eye_openness", "right_eye_openness"]].to_numpy(float))
    pd.testing.assert_frame_equal(faces.to_frame(), table)

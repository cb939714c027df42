import numpy as np
import pandas as pd
import pytest
from PIL import Image

from meshfer import Recognizer
from meshfer.imageio import ImageReadError, read_rgb
from meshfer.labels import EXPRESSIONS
from meshfer.models import ModelLoadError
from meshfer.recognizer import bundled_models_dir

PROBA = [f"p_{name}" for name in EXPRESSIONS]


@pytest.fixture(scope="module")
def recognizer():
    with Recognizer() as rec:
        yield rec


def test_bundled_models_are_shipped_with_cards():
    for approach in ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "eyes"):
        assert (bundled_models_dir() / approach / "card.json").is_file()
    assert (bundled_models_dir() / "ensemble.json").is_file()


def test_one_face_tidy_row(recognizer, face_image):
    table = recognizer.predict(face_image)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["expression"] in EXPRESSIONS
    assert row[PROBA].sum() == pytest.approx(1, abs=1e-6)
    assert row["expression"] == EXPRESSIONS[int(np.argmax(row[PROBA].to_numpy(float)))]
    assert row["left_eye"] in ("wide", "open", "narrowed", "closed") and 0 <= row["left_eye_openness"] <= 3
    assert 0 <= row["x_min"] < row["x_max"] <= 52


@pytest.mark.parametrize("convert, order", [
    (lambda rgb: rgb[:, :, 0], "RGB"),                       # gray
    (lambda rgb: rgb[:, :, ::-1], "BGR"),                    # OpenCV's order
    (lambda rgb: rgb.astype(np.uint16) * 257, "RGB"),        # 16 bit
    (lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGB"),  # RGBA
    (lambda rgb: Image.fromarray(rgb), "RGB"),               # PIL
])
def test_input_kinds_agree(recognizer, face_image, convert, order):
    rgb = read_rgb(face_image)
    expected = recognizer.predict(rgb)
    got = recognizer.predict(convert(rgb), channel_order=order)
    assert got["expression"].tolist() == expected["expression"].tolist()
    np.testing.assert_allclose(got[PROBA].to_numpy(float), expected[PROBA].to_numpy(float), atol=1e-6)


def test_two_faces_give_two_rows(recognizer, fer_root):
    faces = [read_rgb(p) for p in sorted((fer_root / "test" / "happy").glob("PrivateTest_*.jpg"))[:2]]
    canvas = np.zeros((96, 200, 3), np.uint8)
    canvas[24:72, 20:68], canvas[24:72, 130:178] = faces
    table = recognizer.predict(canvas)
    assert len(table) == 2 and table["face"].tolist() == [0, 1]
    assert table["x_min"].min() < 70 and table["x_max"].max() > 130


def test_no_face_is_an_empty_table(recognizer, blank_png):
    table = recognizer.predict(blank_png)
    assert table.empty and "expression" in table.columns


def test_landmarks_on_request(recognizer, face_image):
    row = recognizer.predict(face_image, return_mesh=True).iloc[0]
    assert row["landmarks"].shape == (478, 3) and len(row["blendshapes"]) == 52


def test_bad_inputs(recognizer, tmp_path):
    (tmp_path / "t.jpg").write_text("text")
    with pytest.raises(ImageReadError, match="not an image"):
        recognizer.predict(tmp_path / "t.jpg")
    with pytest.raises(ImageReadError, match="no such file"):
        recognizer.predict(tmp_path / "missing.png")


def test_folder_keeps_every_input(recognizer, fer_sample, tmp_path, blank_png):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n")
    table = recognizer.predict_many([*fer_sample[:4], blank_png, tmp_path / "broken.png"], progress=False)
    assert set(table["path"]) == {*map(str, fer_sample[:4]), str(blank_png), str(tmp_path / "broken.png")}
    errors = table.set_index("path")["error"]
    assert errors[str(blank_png)] == "no face found" and "not an image" in errors[str(tmp_path / "broken.png")]
    assert (errors[list(map(str, fer_sample[:4]))] == "").sum() >= 3


def test_parallel_folder_matches_sequential(recognizer, fer_sample):
    sequential = recognizer.predict_many(fer_sample, progress=False)
    parallel = recognizer.predict_many(fer_sample, progress=False, n_jobs=2, chunk_size=10)
    pd.testing.assert_frame_equal(sequential, parallel)


def test_empty_folder_gives_empty_table(recognizer, tmp_path):
    (tmp_path / "empty").mkdir()
    assert recognizer.predict_many([tmp_path / "empty"], progress=False).empty


@pytest.mark.parametrize("approach", ["pca_svm", "blendshape_svm", "gnn", "mesh_svm", "ensemble"])
def test_every_approach_serves(face_image, approach):
    with Recognizer(approach=approach, eyes=False) as rec:
        table = rec.predict(face_image)
    assert len(table) == 1 and table[PROBA].sum(axis=1).iloc[0] == pytest.approx(1, abs=1e-5)
    assert "left_eye" not in table.columns


def test_unknown_approach_and_bad_models_dir(tmp_path):
    with pytest.raises(ValueError, match="unknown approach"):
        Recognizer(approach="cnn")
    with pytest.raises(ModelLoadError):
        Recognizer(models_dir=tmp_path)


def test_video_one_result_per_frame(tmp_path, fer_sample):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 96))
    face = cv2.resize(cv2.imread(str(fer_sample[0])), (72, 72))
    frames = [cv2.copyMakeBorder(face, 12 + dy, 12 - dy, 12 + dx, 12 - dx, cv2.BORDER_CONSTANT)
              for dx, dy in [(0, 0), (2, 1), (4, 2), (2, 3), (0, 2), (-2, 0)]]  # one person, moving a little
    for frame in frames:
        writer.write(frame)
    writer.release()
    with Recognizer(running_mode="video", eyes=False) as rec:
        tables = list(rec.predict_video(path, smoothing=3))
    assert len(tables) == len(frames)
    stamps = [t["timestamp_ms"].iloc[0] for t in tables if not t.empty]
    assert stamps == sorted(set(stamps)) and sum(not t.empty for t in tables) >= 5


def test_predictions_match_pipeline_evaluation(pipeline_project):
    """The Recognizer built on a pipeline's models labels its test images as the evaluate stage did."""
    dest, _, _ = pipeline_project
    predictions = pd.read_parquet(dest / "data" / "predictions" / "pca_svm.parquet")
    sample = predictions[predictions["split"] == "test"].head(25)
    with Recognizer(approach="pca_svm", models_dir=dest / "models", eyes=False) as rec:
        for row in sample.itertuples():
            table = rec.predict(dest / row.path)
            served = table["expression"].iloc[0] if len(table) else "no_face"
            assert served == row.predicted, row.path

import numpy as np
import pytest
from PIL import Image

from meshfer.landmarker import (
    MODEL_SHA256,
    DetectConfig,
    Landmarker,
    LandmarkerModelError,
    bundled_model_path,
    prepare_image,
    resolve_model,
)


def test_bundled_model_matches_hash():
    assert resolve_model() == bundled_model_path()


@pytest.mark.parametrize("damage", ["missing", "truncated", "other"])
def test_bad_model_file_names_path_and_hash(tmp_path, damage):
    path = tmp_path / "face_landmarker.task"
    if damage == "truncated":
        path.write_bytes(bundled_model_path().read_bytes()[:1000])
    elif damage == "other":
        path.write_bytes(b"not a model")
    with pytest.raises(LandmarkerModelError) as err:
        Landmarker(model_path=path)
    assert str(path) in str(err.value) and MODEL_SHA256 in str(err.value)


def test_env_override_is_checked(tmp_path, monkeypatch):
    bad = tmp_path / "x.task"
    bad.write_bytes(b"x")
    monkeypatch.setenv("MESHFER_LANDMARKER", str(bad))
    with pytest.raises(LandmarkerModelError, match="x.task"):
        resolve_model()


def test_prepare_image_pads_and_upscales():
    img = np.zeros((48, 48, 3), np.uint8)
    out, offset, scale = prepare_image(img, 0.25, "constant", 256)
    assert out.shape == (256, 256, 3) and scale == pytest.approx(256 / 72) and offset == pytest.approx(12 * scale)


def test_prepare_image_shrinks_huge_photos():
    out, offset, scale = prepare_image(np.zeros((10000, 6000, 3), np.uint8), 0.0, "constant", 256, 1920)
    assert out.shape == (1920, 1152, 3) and offset == 0 and scale == pytest.approx(0.192)


def test_huge_and_tiny_images(landmarker, face_image, tmp_path):
    import cv2

    big = cv2.resize(np.asarray(Image.open(face_image).convert("RGB")), (4000, 4000), interpolation=cv2.INTER_CUBIC)
    faces = landmarker.detect(big)
    assert len(faces) == 1 and faces[0].bbox[2] > 2000  # found, in the big image's own pixels
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    assert landmarker.detect(tmp_path / "dot.png") == []


def test_detects_fer_face_in_input_pixels(landmarker, face_image):
    faces = landmarker.detect(face_image)
    assert len(faces) >= 1
    face = faces[0]
    assert face.points.shape == (478, 3) and face.blendshapes.shape == (52,) and face.pose.shape == (4, 4)
    x0, y0, x1, y1 = face.bbox
    # Landmarks are mapped back from the padded, upscaled image to the 48x48 original.
    assert -8 < x0 < x1 < 56 and -8 < y0 < y1 < 56 and (x1 - x0) > 20
    assert 0 <= face.blendshapes.min() and face.blendshapes.max() <= 1


def test_no_face_gives_empty_list(landmarker, blank_png):
    assert landmarker.detect(blank_png) == []


def test_closed_landmarker_refuses(face_image):
    lm = Landmarker(DetectConfig(num_faces=1))
    lm.close()
    with pytest.raises(RuntimeError, match="closed"):
        lm.detect(face_image)


def test_duplicate_and_tiny_detections_are_dropped():
    from meshfer.landmarker import FaceMesh, plausible_faces

    def face(x0, y0, x1, y1):
        points = np.zeros((478, 3), np.float32)
        points[:, :2] = ((x0 + x1) / 2, (y0 + y1) / 2)
        points[0, :2], points[1, :2] = (x0, y0), (x1, y1)
        return FaceMesh(points, np.zeros(52, np.float32), np.eye(4, dtype=np.float32))

    main, inside, tiny, other = face(10, 10, 50, 50), face(15, 15, 45, 48), face(0, 0, 5, 5), face(60, 10, 95, 48)
    assert plausible_faces([main, inside, tiny, other]) == [main, other]

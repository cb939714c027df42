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
    assert resolve_model() == (bundled_model_path(), MODEL_SHA256)


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


def test_an_identical_copy_elsewhere_is_accepted_and_another_file_only_when_unsafe(tmp_path):
    copy = tmp_path / "copy.task"
    copy.write_bytes(bundled_model_path().read_bytes())
    assert resolve_model(copy) == (copy, MODEL_SHA256)
    other = tmp_path / "other.task"
    other.write_bytes(bundled_model_path().read_bytes() + b"\0")  # another file that still loads
    with pytest.raises(LandmarkerModelError, match="unsafe"):
        resolve_model(other)
    path, digest = resolve_model(other, unsafe=True)
    assert path == other and digest != MODEL_SHA256
    with Landmarker(model_path=other, unsafe_model=True) as lm:
        assert lm.model_sha256 == digest


def test_prepare_image_pads_and_upscales():
    img = np.zeros((48, 48, 3), np.uint8)
    out, offset, scale = prepare_image(img, 0.25, "constant", 256)
    assert out.shape == (256, 256, 3) and scale == pytest.approx(256 / 72) and offset == pytest.approx(12 * scale)


def test_only_small_images_are_padded_on_the_first_attempt():
    out, offset, scale = prepare_image(np.zeros((480, 640, 3), np.uint8), 0.25, "constant", 256, pad_large=False)
    assert out.shape == (480, 640, 3) and offset == 0 and scale == 1
    out, offset, _ = prepare_image(np.zeros((480, 640, 3), np.uint8), 0.25, "constant", 256)  # a retry pads
    assert out.shape == (720, 880, 3) and offset == 120


def test_a_face_in_a_video_sized_frame_costs_one_landmark_run(photo):
    """A 640 x 480 frame is not padded (only small images are), and a portrait filling most of its height passes
    the strict pass: no lenient second run."""
    frame = np.full((480, 640, 3), 70, np.uint8)
    frame[40:440, 120:520] = np.asarray(Image.open(photo).convert("RGB").resize((400, 400)))
    with Landmarker(DetectConfig(num_faces=4)) as lm:
        assert len(lm.detect(frame)) == 1
        assert lm._lenient is None  # made on first need only


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


def test_one_landmark_run_for_a_single_face_photo(photo, face_image):
    """The strict pass finds a clear face; the lenient pass (a second landmark run) is never asked, nor made."""
    with Landmarker(DetectConfig(num_faces=4)) as lm:
        for image in (photo, face_image):
            assert len(lm.detect(image)) == 1
        assert lm._lenient is None


def test_the_lenient_pass_runs_when_the_strict_one_finds_nothing(blank_png):
    with Landmarker(DetectConfig(num_faces=4)) as lm:
        assert lm.detect(blank_png) == [] and lm._lenient is not None


def test_two_faces_are_two_faces_and_a_crop_is_one(landmarker, two_faces, face_images):
    with Landmarker(DetectConfig(num_faces=4)) as lm:
        faces = lm.detect(two_faces)
        assert len(faces) == 2
        assert sorted(f.bbox[0] < two_faces.shape[1] / 2 for f in faces) == [False, True]
        for path in face_images:  # no phantom second face on a tight crop (an ear, a collar)
            assert len(lm.detect(path)) == 1, path


def test_the_first_face_gets_the_same_mesh_whatever_num_faces(photo, face_image):
    with Landmarker(DetectConfig(num_faces=1)) as one, Landmarker(DetectConfig(num_faces=4)) as four:
        for image in (photo, face_image):
            np.testing.assert_array_equal(one.detect(image)[0].points, four.detect(image)[0].points)


def test_num_faces_below_one_is_refused():
    with pytest.raises(ValueError, match="num_faces"):
        DetectConfig(num_faces=0)


def test_unclosed_landmarker_exits_quietly(face_image):
    """No MediaPipe traceback at interpreter exit when the user forgot close(), and no native log lines."""
    import subprocess
    import sys

    code = f"from meshfer.landmarker import Landmarker\nlm = Landmarker()\nprint(len(lm.detect({str(face_image)!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "1"
    assert proc.stderr == "", proc.stderr


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


def test_no_phantom_second_face_on_dataset_crops(fer_root):
    """FER-2013 crops hold one face; with up to four allowed, none may come back with a second (an ear, a hand)."""
    files = [p for label in sorted((fer_root / "test").iterdir()) for p in sorted(label.glob("PrivateTest_*"))[:30]]
    with Landmarker(DetectConfig(num_faces=4)) as lm:
        counts = [len(lm.detect(p)) for p in files]
    assert max(counts) == 1 and sum(counts) >= 0.97 * len(files), (max(counts), sum(counts), len(files))

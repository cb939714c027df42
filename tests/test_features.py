import numpy as np
import pytest

from meshfer import mesh
from meshfer.features import MeshBatch, compute_features, eye_measures, get_kind, iris_measures


@pytest.fixture(scope="module")
def real_meshes(landmarker, mini_fer_sample):
    faces = [landmarker.detect(p) for p in mini_fer_sample[:12]]
    faces = [f[0] for f in faces if f]
    return MeshBatch(np.stack([f.points for f in faces]), np.stack([f.blendshapes for f in faces]),
                     np.stack([f.pose for f in faces]))


def _moved(batch: MeshBatch, scale=2.7, shift=(31.0, -12.0, 5.0), angle=0.0) -> MeshBatch:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    points = batch.points @ rot.T * scale + np.array(shift)
    return MeshBatch(points.astype(np.float32), batch.blendshapes, batch.pose)


@pytest.mark.parametrize("params", [
    {"kind": "distances", "dims": 3, "reference": 4, "scale_pair": [4, 151]},
    {"kind": "distances", "dims": 2, "reference": 4, "scale_pair": [4, 151]},
    {"kind": "mesh_nodes", "dims": 2, "level_eyes": False},
    {"kind": "mesh_nodes", "dims": 3, "level_eyes": True},
    {"kind": "eyes", "combine": "per_eye", "blendshapes": True, "iris": True},
    {"kind": "blendshapes", "append_distances": True, "distances": {"dims": 3}},
])
def test_invariant_to_translation_and_scale(real_meshes, params):
    base = compute_features(real_meshes, params)
    moved = compute_features(_moved(real_meshes), params)
    assert np.isfinite(base).all()
    np.testing.assert_allclose(base, moved, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kind", ["distances", "eyes"])
def test_invariant_to_in_plane_rotation(real_meshes, kind):
    base = compute_features(real_meshes, {"kind": kind})
    np.testing.assert_allclose(base, compute_features(_moved(real_meshes, angle=0.4), {"kind": kind}),
                               rtol=1e-3, atol=1e-4)


def test_level_eyes_undoes_roll(real_meshes):
    params = {"kind": "mesh_nodes", "dims": 2, "level_eyes": True}
    np.testing.assert_allclose(compute_features(real_meshes, params),
                               compute_features(_moved(real_meshes, angle=0.5), params), atol=1e-4)


def test_shapes(real_meshes):
    n = len(real_meshes)
    assert compute_features(real_meshes, {"kind": "distances"}).shape == (n, 477)
    assert compute_features(real_meshes, {"kind": "blendshapes"}).shape == (n, 52)
    assert compute_features(real_meshes, {"kind": "mesh_nodes", "dims": 2}).shape == (n, 478, 2)
    assert compute_features(real_meshes, {"kind": "eyes"}).shape == (n, 4)
    assert compute_features(real_meshes, {"kind": "eyes", "blendshapes": True, "combine": "mean"}).shape == (n, 5)


def _synthetic_eye(opening: float) -> np.ndarray:
    """A mesh whose left eye contour is an ellipse of width 10 and the given height."""
    points = np.zeros((1, 478, 3), np.float32)
    contour = mesh.EYE_CONTOURS["left"]
    angles = np.linspace(np.pi, -np.pi, len(contour), endpoint=False)  # starts at corner 33, goes round
    for idx, a in zip(contour, angles):
        points[0, idx, :2] = (5 * np.cos(a), -opening / 2 * np.sin(a))
    top, bottom = mesh.EYE_LID_MIDPOINTS["left"]
    points[0, top, :2], points[0, bottom, :2] = (0, -opening / 2), (0, opening / 2)
    centre, ring = mesh.IRIS["left"]
    for idx, (dx, dy) in zip(ring, [(2, 0), (0, -2), (-2, 0), (0, 2)]):  # iris of radius 2 at the centre
        points[0, idx, :2] = (dx, dy)
    return points


def test_wide_eye_scores_lower_ratio_than_shut_eye():
    wide, shut = eye_measures(_synthetic_eye(6.0), "left"), eye_measures(_synthetic_eye(0.4), "left")
    assert wide[0, 0] > shut[0, 0]  # more visible area per squared width
    assert wide[0, 1] < shut[0, 1]  # smaller width / height


def test_zero_height_eye_is_finite():
    closed = eye_measures(_synthetic_eye(0.0), "left")
    assert np.isfinite(closed).all() and closed[0, 0] == 0 and closed[0, 1] > 100
    assert np.isfinite(iris_measures(_synthetic_eye(0.0), "left")).all()


def test_iris_gaps_tell_wide_from_narrowed():
    wide, narrowed = iris_measures(_synthetic_eye(6.0), "left"), iris_measures(_synthetic_eye(2.0), "left")
    assert wide[0, 1] == pytest.approx(1.5)  # upper lid 3 above the centre: sclera shows above a radius-2 iris
    assert narrowed[0, 1] == pytest.approx(0.5) and narrowed[0, 0] < wide[0, 0]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown feature kind"):
        get_kind("pixels")


def test_aligned_face_levels_the_eyes_and_appends_the_mesh(real_meshes, mini_fer_sample, landmarker):
    from meshfer.features import aligned_crops
    from meshfer.imageio import read_rgb

    image = read_rgb(mini_fer_sample[0])
    face = landmarker.detect(image)[0]
    # Paint the two eye centres white on black: after alignment they must sit where the params put them.
    canvas = np.zeros_like(image)
    for side in ("left", "right"):
        x, y = face.points[list(mesh.EYE_CONTOURS[side]), :2].mean(axis=0)
        canvas[int(round(y)), int(round(x))] = 255
    batch = MeshBatch(face.points[None], face.blendshapes[None], face.pose[None], [canvas])
    crop = aligned_crops(batch, size=48, eye_x=0.3, eye_y=0.38)[0]
    for col in (0.3 * 48, 0.7 * 48):
        patch = crop[int(0.38 * 48) - 2:int(0.38 * 48) + 3, int(col) - 2:int(col) + 3]
        assert patch.max() > 0, "an eye centre left its target"
    params = {"kind": "aligned_face", "crop_px": 32, "mesh": {"kind": "aligned_mesh", "dims": 2}}
    X = compute_features(MeshBatch(face.points[None], face.blendshapes[None], face.pose[None], [image]), params)
    assert X.shape == (1, 32 * 32 + 478 * 2 + 52) and 0 <= X[0, :1024].min() and X[0, :1024].max() <= 1


def test_pixel_features_without_images_are_refused(real_meshes):
    with pytest.raises(ValueError, match="needs the image"):
        compute_features(real_meshes, {"kind": "aligned_face", "mesh": {"kind": "aligned_mesh"}})


def test_eye_patches_are_the_eyes_pixels_standardised_and_mirrored(real_meshes, mini_fer_sample, landmarker):
    """The right eye's patch is mirrored: a face and its mirror image swap their two patches; each patch has mean 0
    and deviation 1, so brightness and contrast do not count."""
    from meshfer.features import eye_patches
    from meshfer.imageio import read_rgb

    image = read_rgb(mini_fer_sample[0])
    face = landmarker.detect(image)[0]
    mirrored_image = np.ascontiguousarray(image[:, ::-1])
    mirrored_face = landmarker.detect(mirrored_image)[0]
    patch = {"crop_px": 64, "width_px": 24, "height_px": 14}
    left, right = eye_patches(MeshBatch(face.points[None], face.blendshapes[None], face.pose[None], [image]), patch)
    m_left, m_right = eye_patches(MeshBatch(mirrored_face.points[None], mirrored_face.blendshapes[None],
                                            mirrored_face.pose[None], [mirrored_image]), patch)
    assert left.shape == (1, 24 * 14)
    np.testing.assert_allclose([left.mean(), left.std()], [0, 1], atol=1e-2)
    assert np.corrcoef(left[0], m_right[0])[0, 1] > 0.9 and np.corrcoef(right[0], m_left[0])[0, 1] > 0.9
    brighter = np.clip(image.astype(float) * 0.8 + 30, 0, 255).astype(np.uint8)
    same = eye_patches(MeshBatch(face.points[None], face.blendshapes[None], face.pose[None], [brighter]), patch)[0]
    assert np.corrcoef(left[0], same[0])[0, 1] > 0.99


def test_eye_features_read_pixels_only_with_a_patch(real_meshes):
    params = {"kind": "eyes", "iris": True, "patch": {"crop_px": 64, "width_px": 24, "height_px": 14}}
    assert compute_features(real_meshes, {**params, "patch": None}).shape[1] == 10
    with pytest.raises(ValueError, match="looks at pixels"):
        compute_features(real_meshes, params)


def test_patches_that_leave_the_crop_are_refused():
    from meshfer.features import patch_fits

    assert patch_fits({"crop_px": 64, "width_px": 24, "height_px": 14})
    assert not patch_fits({"crop_px": 64, "width_px": 40, "height_px": 14})  # wider than 0.6 of the crop
    assert not patch_fits({"crop_px": 64, "width_px": 24, "height_px": 50})

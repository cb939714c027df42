"""The visible-sclera measure (meshfer.features.sclera_area) and the seed's two-measure kind ``eye_shape``, on eyes
drawn to known sizes: an elliptic contour of half-width a and half-height b around an iris disc of radius r."""
import numpy as np
import pytest

from meshfer import mesh
from meshfer.features import MeshBatch, compute_features, eye_measures, sclera_area
from meshfer.training.schema import ParamsError, check_params
from meshfer.training.config import load_params
from tests.conftest import ROOT


def _eye_points(a: float, b: float, r: float, centre=(100.0, 80.0), angle: float = 0.0) -> np.ndarray:
    """(1, 478, 3): both eyes drawn alike (contour points in their order around the eye, corners at 0 and 8,
    lower and upper lid midpoints at 4 and 12), rotated by ``angle`` about the eye centre."""
    points = np.zeros((1, 478, 3))
    c, s = np.cos(angle), np.sin(angle)
    place = lambda x, y: (centre[0] + c * x - s * y, centre[1] + s * x + c * y, 0.0)  # noqa: E731
    for side in ("left", "right"):
        for k, index in enumerate(mesh.EYE_CONTOURS[side]):
            theta = np.pi + k * np.pi / 8
            points[0, index] = place(a * np.cos(theta), b * np.sin(theta))
        iris_centre, ring = mesh.IRIS[side]
        points[0, iris_centre] = place(0, 0)
        for index, (x, y) in zip(ring, ((r, 0), (0, r), (-r, 0), (0, -r))):
            points[0, index] = place(x, y)
    return points


def _polygon_area(a, b):
    return 8 * np.sin(np.pi / 8) * a * b  # a 16-gon inscribed in the ellipse


def test_sclera_is_the_contour_less_the_whole_iris_when_the_lids_clear_it():
    a, b, r = 20.0, 9.0, 6.0
    expected = (_polygon_area(a, b) - np.pi * r**2) / (2 * a) ** 2
    assert sclera_area(_eye_points(a, b, r), "left")[0] == pytest.approx(expected, rel=1e-9)


def test_lids_over_the_iris_hide_it_and_a_shut_eye_has_none():
    a, r = 20.0, 6.0
    b = 3.0  # the lids cut the disc at +-3: the visible iris is the band between them
    band = 2 * (b * np.sqrt(r**2 - b**2) + r**2 * np.arcsin(b / r))
    expected = max(_polygon_area(a, b) - band, 0) / (2 * a) ** 2
    assert sclera_area(_eye_points(a, b, r), "left")[0] == pytest.approx(expected, rel=1e-9)
    assert sclera_area(_eye_points(a, 0.0, r), "left")[0] == 0.0


def test_sclera_grows_as_the_lids_open_and_ignores_size_position_and_roll():
    values = [sclera_area(_eye_points(20.0, b, 6.0), "right")[0] for b in (4, 6, 8, 10, 12)]
    assert np.all(np.diff(values) > 0)
    base = sclera_area(_eye_points(20.0, 9.0, 6.0), "left")[0]
    moved = sclera_area(_eye_points(20.0 * 3, 9.0 * 3, 6.0 * 3, centre=(400, 10), angle=0.4), "left")[0]
    assert moved == pytest.approx(base, rel=1e-9)


def test_eye_shape_is_the_seeds_two_measures_per_eye():
    points = _eye_points(20.0, 9.0, 6.0)
    batch = MeshBatch(points, np.zeros((1, 52)), np.zeros((1, 4, 4)))
    features = compute_features(batch, {"kind": "eye_shape", "combine": "per_eye", "sclera": 1})
    ratio, sclera = eye_measures(points, "left")[0, 1], sclera_area(points, "left")[0]
    assert ratio == pytest.approx(40 / 18)
    np.testing.assert_allclose(features[0], [ratio, sclera, ratio, sclera], rtol=1e-6)
    assert compute_features(batch, {"kind": "eye_shape", "combine": "mean"}).shape == (1, 2)
    with_sclera = compute_features(batch, {"kind": "eyes", "iris": True, "sclera": 1})
    assert with_sclera.shape == (1, 12) and with_sclera[0, 5] == pytest.approx(sclera, rel=1e-6)


def test_an_unknown_sclera_version_is_refused_by_the_measure_and_the_params_check():
    with pytest.raises(ValueError, match="sclera version 2"):
        sclera_area(_eye_points(20.0, 9.0, 6.0), "left", version=2)
    params = load_params(ROOT / "params.yaml")
    params["eyes_ordinal"]["features"]["sclera"] = 2
    with pytest.raises(ParamsError, match="eyes_ordinal.features.sclera"):
        check_params(params)

"""The robustness benchmark's corruptions and scores (the benchmark itself runs with `make bench`)."""
import numpy as np
import pytest

from bench.robustness import CLEAN, CORRUPTIONS, conditions, corruption_transform, score, summary


@pytest.fixture
def face() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(40, 215, size=(48, 48, 3), dtype=np.uint8)


@pytest.mark.parametrize("name, severity", [c for c in conditions() if c[0] != CLEAN])
def test_every_corruption_changes_the_image_the_same_way_each_time(face, name, severity):
    first, again = corruption_transform(name, severity)(face, 3), corruption_transform(name, severity)(face, 3)
    assert first.dtype == np.uint8 and first.shape[2] == 3
    assert np.array_equal(first, again), "a condition must give the same image on every run and worker"
    assert first.shape != face.shape or not np.array_equal(first, face)


def test_geometric_corruptions_keep_the_whole_face(face):
    moved = corruption_transform("translation", 1.0)(face, 0)
    assert moved.shape[:2] == (96, 96)
    assert np.array_equal(moved[0:48, 0:48], face), "shift 1.0 puts the face in a corner of the canvas"
    small = corruption_transform("scale", 0.5)(face, 0)
    assert small.shape == face.shape and small[:12].max() == 0 and small[12:36, 12:36].max() > 0


def test_rotation_alternates_its_sense(face):
    rotate = corruption_transform("rotation", 30)
    assert not np.array_equal(rotate(face, 0), rotate(face, 1))
    assert np.array_equal(rotate(face, 0), rotate(face, 2))


def test_scores_count_lost_faces_as_wrong_and_normalise_by_the_peer():
    truth = np.array([0, 1, 2, 3])
    predictions = {
        (CLEAN, None): {"mesh": np.array([0, 1, 2, 0]), "peer_classifier": np.array([0, 1, 2, 3])},
        ("blur", 1.0): {"mesh": np.array([0, 1, -1, 0]), "peer_classifier": np.array([0, 1, 0, 0])},
    }
    table = score(predictions, truth).set_index(["approach", "corruption"])
    blurred = table.loc[("mesh", "blur")]
    assert blurred.accuracy == 0.5 and blurred.coverage == 0.75
    assert blurred.kept == 1.0, "every image found in both kept its label"
    result = summary(table.reset_index())
    assert result["mesh"]["mean_relative_drop"] == pytest.approx((0.75 - 0.5) / 0.75, abs=1e-4)
    assert result["mesh"]["mce_vs_peer_classifier"] == pytest.approx(0.5 / 0.5)
    assert result["peer_classifier"]["worst"]["corruption"] == "blur"


def test_every_corruption_has_a_name_and_graded_severities():
    names = [c.name for c in CORRUPTIONS]
    assert len(names) == len(set(names)) and all(c.severities for c in CORRUPTIONS)

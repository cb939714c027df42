"""The derived left/right mirror tables, and the mirrored features the aligned-face network trains on."""
import numpy as np
import pytest

from bench.finished.mirror_tta import mirrored
from meshfer import mesh
from meshfer.features import MeshBatch, compute_features, mesh_nodes
from meshfer.training.cnn import aligned_mesh_mirror, blendshape_permutation, mirror_permutation


@pytest.fixture(scope="module")
def faces(landmarker, mini_fer_sample, face_images):
    found = [f[0] for f in map(landmarker.detect, [*mini_fer_sample, *face_images]) if f]
    return MeshBatch(np.stack([f.points for f in found]), np.stack([f.blendshapes for f in found]),
                     np.stack([f.pose for f in found]))


def test_blendshapes_swap_sides_and_keep_the_rest():
    names = np.array(mesh.BLENDSHAPE_NAMES)[blendshape_permutation()]
    assert names[mesh.BLENDSHAPE_NAMES.index("eyeBlinkLeft")] == "eyeBlinkRight"
    assert names[mesh.BLENDSHAPE_NAMES.index("jawOpen")] == "jawOpen"


def test_permutation_pairs_the_eyes_and_fixes_the_midline(faces):
    shape = np.median(mesh_nodes(faces, {"dims": 2, "level_eyes": True}), axis=0)
    perm = mirror_permutation(shape)
    assert (perm[perm] == np.arange(mesh.N_LANDMARKS)).all()
    assert perm[33] == 263 and perm[133] == 362 and perm[468] == 473
    assert perm[mesh.NOSE_TIP] == mesh.NOSE_TIP and perm[mesh.FOREHEAD] == mesh.FOREHEAD


def test_mirrored_feature_columns_are_the_features_of_the_mirrored_mesh(faces):
    """What the network's flip augmentation does to a feature row equals mirroring the face itself."""
    params = {"kind": "aligned_mesh", "dims": 2, "append_blendshapes": True}
    X = compute_features(faces, params)
    order, signs = aligned_mesh_mirror(X)
    shape = np.median(mesh_nodes(faces, {"dims": 2, "level_eyes": True}), axis=0)
    flipped = mirrored(faces, mirror_permutation(shape), np.full(len(faces), 100.0))
    np.testing.assert_allclose(X[:, order] * signs, compute_features(flipped, params), atol=1e-4)
    np.testing.assert_allclose((X[:, order] * signs)[:, order] * signs, X, atol=1e-6)  # twice = identity

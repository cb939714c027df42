"""The mirror benchmark's derived left/right tables (the benchmark itself runs with `make bench`)."""
import numpy as np

from bench.mirror_tta import blendshape_permutation, mirror_permutation, mirrored
from meshfer import mesh
from meshfer.features import MeshBatch, compute_features


def test_blendshapes_swap_sides_and_keep_the_rest():
    names = np.array(mesh.BLENDSHAPE_NAMES)[blendshape_permutation()]
    assert names[mesh.BLENDSHAPE_NAMES.index("eyeBlinkLeft")] == "eyeBlinkRight"
    assert names[mesh.BLENDSHAPE_NAMES.index("jawOpen")] == "jawOpen"


def test_mesh_permutation_from_real_faces_pairs_the_eyes_and_fixes_the_midline(landmarker, fer_sample):
    faces = [f[0] for f in map(landmarker.detect, fer_sample) if f]
    perm = mirror_permutation(np.stack([f.points for f in faces]))
    assert (perm[perm] == np.arange(mesh.N_LANDMARKS)).all()
    assert perm[33] == 263 and perm[133] == 362 and perm[468] == 473
    assert perm[mesh.NOSE_TIP] == mesh.NOSE_TIP and perm[mesh.FOREHEAD] == mesh.FOREHEAD
    # Mirroring twice gives the original face back, features included.
    batch = MeshBatch(np.stack([f.points for f in faces]), np.stack([f.blendshapes for f in faces]),
                      np.stack([f.pose for f in faces]))
    width = np.full(len(faces), 48.0)
    twice = mirrored(mirrored(batch, perm, width), perm, width)
    params = {"kind": "aligned_mesh", "dims": 2}
    np.testing.assert_allclose(compute_features(twice, params), compute_features(batch, params), atol=1e-5)

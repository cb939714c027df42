"""Training wing: the left/right mirror of a face mesh, as index tables.

The landmark permutation is derived, not typed: a typical levelled face shape (the median of many), mirrored, is
matched to itself by minimum-cost assignment; it must come out as an involution (applied twice, the identity)
that fixes the midline. Blendshapes swap their Left/Right names.
"""
from __future__ import annotations

import numpy as np

from meshfer import mesh


def mirror_permutation(shape: np.ndarray) -> np.ndarray:
    """perm[i] = the landmark that lies where landmark i's mirror image lies, for a centred, levelled (478, 2)
    face shape."""
    from scipy.optimize import linear_sum_assignment

    shape = shape - shape.mean(axis=0)
    mirrored = shape * [-1.0, 1.0]
    cost = np.linalg.norm(shape[:, None] - mirrored[None], axis=2)
    _, perm = linear_sum_assignment(cost)
    if not (perm[perm] == np.arange(len(perm))).all():
        raise RuntimeError("the derived mirror permutation is not an involution")
    return perm


def blendshape_permutation() -> np.ndarray:
    """eyeBlinkLeft <-> eyeBlinkRight and so on; unsided blendshapes stay."""
    names = list(mesh.BLENDSHAPE_NAMES)

    def partner(name: str) -> str:
        for side, other in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(side):
                return name[: -len(side)] + other
        return name

    return np.array([names.index(partner(name)) for name in names])


def aligned_mesh_mirror(X_mesh: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """For ``aligned_mesh`` rows (478 * dims levelled coordinates, then 52 blendshapes): the column order and the
    signs that mirror a row: ``mirrored = row[order] * signs``."""
    coords = X_mesh[:, : mesh.N_LANDMARKS * dims].reshape(len(X_mesh), mesh.N_LANDMARKS, dims)
    perm = mirror_permutation(np.median(coords[..., :2], axis=0))
    columns = (perm[:, None] * dims + np.arange(dims)).ravel()
    signs = np.tile([-1.0] + [1.0] * (dims - 1), mesh.N_LANDMARKS)
    order = np.concatenate([columns, mesh.N_LANDMARKS * dims + blendshape_permutation()])
    return order, np.concatenate([signs, np.ones(len(mesh.BLENDSHAPE_NAMES))])

"""Mirror test-time augmentation: does averaging a face's prediction with that of its mirrored mesh help?

The left/right landmark permutation is derived, not typed: the median pose-levelled training mesh, mirrored,
matched to itself by minimum-cost assignment (it must come out as an involution that fixes the midline).
Blendshapes swap their Left/Right names; the pose matrix is conjugated by the x reflection.
Scored with the pipeline's trained models on validation and test (no face = wrong).

Run after `dvc repro`: python -m bench.finished.mirror_tta   (writes bench/results/mirror_tta.json)
"""
from __future__ import annotations

import numpy as np

from bench.common import write_result
from bench.finished.shared import arguments, first_per_label, landmark_only_approaches
from meshfer.training.config import load_params, serving_dir
from meshfer.features import MeshBatch, compute_features, mesh_nodes
from meshfer.labels import EXPRESSIONS
from meshfer.training.landmark_store import load_landmarks
from meshfer.training.cnn import blendshape_permutation, mirror_permutation
from meshfer.runtime import load_model

X_REFLECTION = np.diag([-1.0, 1.0, 1.0, 1.0])


def mirrored(batch: MeshBatch, perm: np.ndarray, width: np.ndarray) -> MeshBatch:
    points = batch.points[:, perm].copy()
    points[..., 0] = width[:, None] - points[..., 0]
    return MeshBatch(points, batch.blendshapes[:, blendshape_permutation()], X_REFLECTION @ batch.pose @ X_REFLECTION)


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")
    table = load_landmarks(run.project / "data" / "fer" / "landmarks")
    index = table.index
    original = ~index["augmented"].to_numpy(bool)
    if run.smoke:
        original &= first_per_label(index["split"].to_numpy(), index["label"].to_numpy(), 10)
    train = table.found & original & (index["split"].to_numpy() == "train")
    shapes = mesh_nodes(MeshBatch(table.points[train], None, None), {"dims": 2, "level_eyes": True})
    perm = mirror_permutation(np.median(shapes, axis=0))
    # Mesh-only members: mirroring a pixel approach would also need the flipped image.
    members = landmark_only_approaches(params)
    models = {name: load_model(run.project / serving_dir(name)) for name in members}
    results = {"permutation": {"fixed_points": int((perm == np.arange(len(perm))).sum()),
                               "examples": {int(i): int(perm[i]) for i in (33, 133, 159, 468, 61, 4)}}}
    for split in ("validation", "test"):
        rows = original & (index["split"].to_numpy() == split)
        found = table.found[rows]
        y = index["label"].map({n: i for i, n in enumerate(EXPRESSIONS)}).to_numpy()[rows]
        keep = np.flatnonzero(rows)[found]
        batch = MeshBatch(table.points[keep], table.blendshapes[keep], table.pose[keep])
        flipped = mirrored(batch, perm, index["width"].to_numpy(float)[keep])
        probas = {}
        for name, model in models.items():
            plain = model.predict_proba(compute_features(batch, model.card.feature_params))
            mirror = model.predict_proba(compute_features(flipped, model.card.feature_params))
            probas[name] = {"plain": plain, "mirror_only": mirror, "average": (plain + mirror) / 2}
        probas["ensemble"] = {k: np.mean([p[k] for p in probas.values()], axis=0) for k in ("plain", "average")}
        for name, variants in probas.items():
            for variant, proba in variants.items():
                predicted = np.full(len(y), -1)
                predicted[found] = proba.argmax(axis=1)
                results.setdefault(name, {}).setdefault(split, {})[variant] = round(float(np.mean(predicted == y)), 4)
        print(split, {n: results[n][split] for n in probas})
    write_result("mirror_tta", {"command": "python -m bench.finished.mirror_tta", "members": members,
                                "accuracy": results}, run.results)


if __name__ == "__main__":
    main()

"""The eye model across its two sources (data/raw/eyes: UTKFace photos + CEW closed eyes; data/raw/eyes_fer:
FER-2013 training faces): which features and model to serve, chosen on validation, and how much of what it learns
is the source rather than the eye.

- choice: every feature set x model on the pipeline's own splits, validation accuracy (all, and per source),
  ordinal (LogisticAT) beside a plain multinomial logistic regression and two non-linear learners;
- cross-source: trained on one source's training split, scored on the other source's test split, per class;
- openness (0 closed .. 1 wide, the Recognizer's column) by true label on each source: it should grow with the eye;
- the closed confound: every closed face of data/raw/eyes is from CEW. Trained without those (CEW left out), how
  many FER closed faces are still called closed?

Run after `dvc repro landmarks@eyes`: python -m bench.eyes_sources   (writes bench/results/eyes_sources.json)
"""
from __future__ import annotations

import itertools

import numpy as np

from bench.common import (EYE_LABELS, ROOT, eye_scores, eye_scores_by_source, eyes_section,
                          predictions_with_sources, restricted, write_result)
from meshfer.labels import EYE_OPENNESS
from meshfer.training.config import load_params
from meshfer.training.held_out import source_of
from meshfer.training.featurize import build_feature_table
from meshfer.training.fitting import fit
from meshfer.training.scoring import predict_proba_images

MESH_ONLY = {"iris": True, "blendshapes": True, "periocular": True, "patch": None}
FEATURES = {
    "lids+iris": {**MESH_ONLY, "blendshapes": False, "periocular": False},
    "lids+iris+eye_blendshapes": {**MESH_ONLY, "periocular": False},
    "lids+iris+eye+periocular_blendshapes": MESH_ONLY,
    **{f"... + eye patch {w}x{h} of {c} px": {**MESH_ONLY, "patch": {"crop_px": c, "width_px": w, "height_px": h}}
       for c, w, h in ((64, 16, 10), (64, 24, 14), (96, 24, 14), (96, 36, 21))},
}
# With a patch, the model compresses its pixels by PCA first (pca_on: pixels), with this many components.
PATCH_COMPONENTS = (20, 40)
MODELS = {
    "logistic_at (ordinal)": {"kind": "logistic_at", "alpha": 1.0, "per_eye_samples": True},
    "logreg (multinomial)": {"kind": "logreg", "C": 1.0, "per_eye_samples": True},
    "logreg (multinomial), C=0.3": {"kind": "logreg", "C": 0.3, "per_eye_samples": True},
    "logreg (multinomial), C=3": {"kind": "logreg", "C": 3.0, "per_eye_samples": True},
    "svm (rbf)": {"kind": "svm", "kernel": "rbf", "C": 5, "gamma": "scale", "pca_components": 0,
                  "per_eye_samples": True},
}
def main() -> None:
    params = load_params(ROOT / "params.yaml")
    base = params["eyes"]
    landmarks = ROOT / "data" / "eyes" / "landmarks"
    choice = {}
    for fname, features in FEATURES.items():
        table = build_feature_table(landmarks, "eyes", {**base["features"], **features})
        compressions = [{"pca_components": n, "pca_on": "pixels"} for n in PATCH_COMPONENTS] if features["patch"] \
            else [{}]
        for (mname, model), pca in itertools.product(MODELS.items(), compressions):
            spec = eyes_section(base, features, {**model, **pca})
            trained, _ = fit(table, "eyes", spec, "eyes")
            name = f"{fname} | {mname}" + (f", PCA {pca['pca_components']}" if pca else "")
            choice[name] = {split: eye_scores_by_source(*predictions_with_sources(trained, table, split))
                            for split in ("validation", "test")}
            print(name, choice[name]["validation"]["all"]["accuracy"], flush=True)

    spec = eyes_section(base, {}, base["model"])  # the served recipe (params.yaml)
    table = build_feature_table(landmarks, "eyes", spec["features"])
    sources = np.array([source_of(p) for p in table.path])
    cew = np.array([p.rsplit("/", 1)[-1].startswith("cew_") for p in table.path])
    trained, _ = fit(table, "eyes", spec, "eyes")
    openness = {}
    for split in ("validation", "test"):
        mask = table.rows(split, with_face=False) & table.found
        face = predict_proba_images(trained, table, split)[table.found[table.rows(split, with_face=False)]]
        value, y, where = face @ np.asarray(EYE_OPENNESS), table.y[mask], sources[mask]
        openness[split] = {s: {name: round(float(value[(where == s) & (y == i)].mean()), 3)
                               for i, name in enumerate(EYE_LABELS) if ((where == s) & (y == i)).any()}
                           for s in np.unique(where)}
    cross = {}
    for trained_on in np.unique(sources):
        trained, _ = fit(restricted(table, sources == trained_on), "eyes", spec, "eyes")
        y, pred, where = predictions_with_sources(trained, table, "test")
        cross[f"trained on {trained_on}"] = {f"test of {s}": eye_scores(y[where == s], pred[where == s])
                                             for s in np.unique(where)}
    trained, _ = fit(restricted(table, ~cew), "eyes", spec, "eyes")
    y, pred, where = predictions_with_sources(trained, table, "test")
    closed = EYE_LABELS.index("closed")
    fer_closed = (where != "data/raw/eyes") & (y == closed)
    confound = {"trained without CEW (every closed face of data/raw/eyes)": {
        "fer_closed_test_faces": int(fer_closed.sum()),
        "called_closed": round(float(np.mean(pred[fer_closed] == closed)), 4),
        "test_of_each_source": eye_scores_by_source(y, pred, where)}}
    write_result("eyes_sources", {"command": "python -m bench.eyes_sources", "served_recipe": spec["features"]
                                  | {"model": spec["model"]}, "choice_on_validation": choice,
                                  "openness_by_label": openness, "cross_source": cross,
                                  "closed_confound": confound})


if __name__ == "__main__":
    main()

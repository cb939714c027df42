"""Eyes 3: the eye model's choices that depend on the data size, re-made on validation now that the FER eye faces
tripled (874 -> 2,597, split by photo), and the features for the ordinal approach (eyes_ordinal).

- served: the served features (lids, iris, eye and periocular blendshapes, the 24x14 patch of a 64 px crop) with and
  without the visible sclera, x SVM C x the patch's PCA size;
- family: on the served features, the other model families (multinomial logreg at three C, gradient boosting,
  the ordinal LogisticAT on the PCA'd patch) at the patch's best PCA size, and two other patch sizes with the SVM;
- ordinal: LogisticAT (one sample per eye, as served) on the seed's two measures (eye_shape) and on growing eyes
  feature sets, the sclera with each.

Every figure: clean validation (what the choice is made on), all faces and per source, no face = wrong; test is
recorded beside it, never used to choose. Run after `dvc repro landmarks@eyes`:
nice -n 10 python -m bench.finished.eyes_tune   (about 15 minutes on 2 cores; writes bench/results/eyes_tune.json)
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from bench.common import eye_scores_by_source, eyes_section, predictions_with_sources, write_result
from bench.finished.shared import EYE_SMOKE_PER_LABEL, arguments, smaller
from meshfer.training.config import load_params
from meshfer.training.featurize import build_feature_table
from meshfer.training.fitting import fit

SPLITS = ("validation", "test")
SERVED_C = (1, 2, 5, 10, 20)
SERVED_PCA = (20, 40, 60, 80)
PATCHES = ({"crop_px": 64, "width_px": 16, "height_px": 10}, {"crop_px": 96, "width_px": 36, "height_px": 21})
MESH_SETS = {
    "lids+iris": {"iris": True, "blendshapes": False, "periocular": False, "patch": None},
    "lids+iris+eye_blendshapes": {"iris": True, "blendshapes": True, "periocular": False, "patch": None},
    "lids+iris+eye+periocular_blendshapes": {"iris": True, "blendshapes": True, "periocular": True, "patch": None},
}


class Tables:
    """Feature tables by their params, each computed once (a patch table re-reads every image)."""

    def __init__(self, landmarks: Path, smoke: bool):
        self.landmarks, self.smoke, self.cache = landmarks, smoke, {}

    def __call__(self, features: dict) -> dict:
        key = json.dumps(features, sort_keys=True)
        if key not in self.cache:
            table = build_feature_table(self.landmarks, "eyes", features)
            self.cache[key] = smaller(table, EYE_SMOKE_PER_LABEL) if self.smoke else table
        return self.cache[key]


def fitted_and_scored(tables: Tables, base: dict, features: dict, model: dict) -> dict:
    spec = eyes_section(base, {}, model)
    spec["features"] = features
    trained, cost = fit(tables(features), "eyes", spec, "eyes")
    scored = {split: eye_scores_by_source(*predictions_with_sources(trained, tables(features), split))
              for split in SPLITS}
    return {"features": features, "model": model, "fit_seconds": cost["seconds"], **scored}


def report(results: dict, name: str, result: dict) -> None:
    results[name] = result
    print(f"{name}: validation {result['validation']['all']['accuracy']:.4f}", flush=True)


def best(results: dict, prefix: str) -> str:
    return max((k for k in results if k.startswith(prefix)), key=lambda k: results[k]["validation"]["all"]["accuracy"])


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")
    base, served = params["eyes"], params["eyes"]["model"]
    tables, results = Tables(run.project / "data" / "eyes" / "landmarks", run.smoke), {}
    grid = ((0,), SERVED_C[:1], SERVED_PCA[:1]) if run.smoke else ((0, 1), SERVED_C, SERVED_PCA)
    for sclera, C, pca in itertools.product(*grid):
        features = {**base["features"], "sclera": sclera}
        report(results, f"served{' +sclera' if sclera else ''} | svm C={C}, PCA {pca}",
               fitted_and_scored(tables, base, features, {**served, "C": C, "pca_components": pca}))
    chosen = results[best(results, "served")]
    features, pca = chosen["features"], chosen["model"]["pca_components"]
    families = {**{f"logreg C={C}": {"kind": "logreg", "C": C} for C in (0.3, 1.0, 3.0)},
                "hgb": {"kind": "hgb", "learning_rate": 0.1, "max_iter": 300, "max_leaf_nodes": 15},
                "logistic_at": {"kind": "logistic_at", "alpha": 1.0}}
    if run.smoke:
        families = {"logistic_at": families["logistic_at"]}
    for name, model in families.items():
        report(results, f"family | {name}, PCA {pca}",
               fitted_and_scored(tables, base, features, {**model, "per_eye_samples": True, "pca_components": pca,
                                            "pca_on": "pixels"}))
    for patch in PATCHES[:1] if run.smoke else PATCHES:
        report(results, f"patch {patch['width_px']}x{patch['height_px']} of {patch['crop_px']} px | svm",
               fitted_and_scored(tables, base, {**features, "patch": patch}, chosen["model"]))
    ordinal = {"kind": "logistic_at", "alpha": 1.0, "per_eye_samples": True}
    report(results, "ordinal | eye_shape (the seed's two measures)",
           fitted_and_scored(tables, base, {"kind": "eye_shape", "combine": "per_eye", "sclera": 1}, ordinal))
    mesh_sets = list(MESH_SETS.items())[:1] if run.smoke else MESH_SETS.items()
    for (name, mesh_set), sclera in itertools.product(mesh_sets, (0,) if run.smoke else (0, 1)):
        report(results, f"ordinal | {name}{' +sclera' if sclera else ''}",
               fitted_and_scored(tables, base, {"kind": "eyes", "combine": "per_eye", **mesh_set, "sclera": sclera},
                                 ordinal))
    write_result("eyes_tune", {"command": "nice -n 10 python -m bench.finished.eyes_tune",
                               "chosen_on_validation": {"served": best(results, "served"),
                                                        "ordinal": best(results, "ordinal")},
                               "results": results}, run.results)


if __name__ == "__main__":
    main()

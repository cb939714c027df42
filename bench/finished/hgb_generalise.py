"""Does `mesh_hgb` generalise better with more regularisation, or with early stopping on the clean validation split
instead of on a share of the (augmented, copy-laden) training split? Each variant is fitted on mesh_hgb's own
features and preprocessing (params.yaml) and scored on clean validation, test and test_unseen; no face = wrong.

Run after `dvc repro features@mesh_hgb`: OMP_NUM_THREADS=1 python -m bench.finished.hgb_generalise
(writes bench/results/hgb_generalise.json; about 12 minutes on one core)
"""
from __future__ import annotations

import time

import numpy as np

from bench.common import write_result
from bench.finished.shared import arguments, smaller
from meshfer.training.config import load_params
from meshfer.training.feature_table import FeatureTable, features_path
from meshfer.training.estimators import build_estimator
from meshfer.training.fitting import model_params_of

# (label, HistGradientBoostingClassifier settings, early stopping on clean validation?)
VARIANTS = [
    ("served: lr 0.05, 63 leaves, l2 1, early stopping on 10 % of train", {}, False),
    ("early stopping on clean validation", {}, True),
    ("... + min_samples_leaf 100", {"min_samples_leaf": 100}, True),
    ("... + 31 leaves, min_samples_leaf 50, l2 5", {"max_leaf_nodes": 31, "min_samples_leaf": 50,
                                                   "l2_regularization": 5.0}, True),
    ("... + 15 leaves, lr 0.1", {"max_leaf_nodes": 15, "learning_rate": 0.1}, True),
    ("... + max_features 0.5", {"max_features": 0.5}, True),
]


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")["mesh_hgb"]
    features = FeatureTable.load(run.project / features_path("mesh_hgb"))
    if run.smoke:
        features = smaller(features, 20)  # its early stopping's stratified tenth and PCA need this many
    model_params = model_params_of(params)
    pipeline = build_estimator(model_params)
    train = features.rows("train")
    prepare = pipeline[:-1].fit(features.x(train), features.y[train])
    data = {split: (prepare.transform(features.x(features.rows(split))), features.y[features.rows(split)],
                    int(features.rows(split, with_face=False).sum()))
            for split in ("train", "validation", "test", "test_unseen")}
    served = pipeline[-1].get_params()
    results = []
    for label, changes, on_validation in VARIANTS[:2] if run.smoke else VARIANTS:
        start = time.perf_counter()
        model = pipeline[-1].__class__(**{**served, **changes})
        if on_validation:
            model.set_params(max_iter=1000, validation_fraction=None, n_iter_no_change=20)
            model.fit(*data["train"][:2], X_val=data["validation"][0], y_val=data["validation"][1])
        else:
            model.fit(*data["train"][:2])
        accuracy = {split: round(float(np.sum(model.predict(X) == y)) / images, 4)  # a lost face counts as wrong
                    for split, (X, y, images) in data.items()}
        results.append({"variant": label, "iterations": int(model.n_iter_), "accuracy": accuracy})
        print(label, model.n_iter_, accuracy, f"{time.perf_counter() - start:.0f} s", flush=True)
    write_result("hgb_generalise", {"command": "OMP_NUM_THREADS=1 python -m bench.finished.hgb_generalise",
                                    "variants": results}, run.results)


if __name__ == "__main__":
    main()

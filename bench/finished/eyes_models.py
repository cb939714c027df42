"""What the ordinal model buys: LogisticAT vs multinomial logistic regression vs the seed's polynomial SVC,
with and without the eye blendshapes, on the eyes pipeline's own split (same landmarks, same evaluation).

Beside the fixed split (134 test images: one image is 0.75 points), each variant's accuracy and MAE in 5-fold
stratified cross-validation over train + validation, repeated with 3 seeds, which says more on a set this small.

Run after `dvc repro landmarks@eyes`: python -m bench.finished.eyes_models   (writes bench/results/eyes_models.json)
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.common import write_result
from bench.finished.shared import EYE_SMOKE_PER_LABEL, arguments, smaller
from meshfer.scores import HEADLINE_SPLITS
from meshfer.training.config import load_params
from meshfer.training.estimators import build_estimator, fit_quietly
from meshfer.training.featurize import build_feature_table
from meshfer.training.held_out import score_splits
from meshfer.training.fitting import fit

CV_SEEDS = (0, 1, 2)


def cross_validate(table: dict, model_params: dict, seeds: tuple = CV_SEEDS) -> dict:
    """Mean accuracy and MAE over 5 folds x ``seeds`` of the original train + validation faces."""
    found = table.found
    keep = (table.split[found] != "test") & ~table.augmented[found]
    X, y = table.X[keep], table.y[found][keep]
    accuracy, mae = [], []
    for seed in seeds:
        for train, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            predicted = fit_quietly(build_estimator(model_params), X[train], y[train]).predict(X[held])
            accuracy.append(np.mean(predicted == y[held]))
            mae.append(np.mean(np.abs(predicted - y[held])))
    return {"faces": int(len(y)), "accuracy": round(float(np.mean(accuracy)), 4),
            "accuracy_std": round(float(np.std(accuracy)), 4), "mae_steps": round(float(np.mean(mae)), 4)}

VARIANTS = {
    "logistic_at": {"kind": "logistic_at", "alpha": 1.0},
    "multinomial_logreg": {"kind": "logreg", "C": 1.0},
    "poly_svc": {"kind": "svm", "kernel": "poly", "degree": 3, "C": 1.0, "gamma": "scale"},
}


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")
    base = params["eyes"]
    results = {}
    for with_blendshapes in (False, True):
        features_params = {**base["features"], "blendshapes": with_blendshapes}
        table = build_feature_table(run.project / "data" / "eyes" / "landmarks", "eyes", features_params)
        if run.smoke:
            table = smaller(table, EYE_SMOKE_PER_LABEL)
        for name, model in VARIANTS.items():
            section = copy.deepcopy(base)
            section["features"] = features_params
            section["model"] = {**model, "per_eye_samples": base["model"]["per_eye_samples"], "seed": 0}
            trained, _ = fit(table, "eyes", section, "eyes")
            metrics, report, _, _ = score_splits(trained, table)
            key = f"{name}{'+blendshapes' if with_blendshapes else ''}"
            # The headline metrics are keyed by short split names (val, test, unseen), the report by the full ones.
            results[key] = {split: {**metrics[short], "recall_wide": report[split]["per_class"]["wide"]["recall"]}
                            for split, short in HEADLINE_SPLITS.items() if "per_class" in report.get(split, {})}
            results[key]["cross_validation"] = cross_validate(table, section["model"],
                                                              CV_SEEDS[:1] if run.smoke else CV_SEEDS)
            print(key, results[key]["test"], results[key]["cross_validation"])
    write_result("eyes_models", {"command": "python -m bench.finished.eyes_models",
                                 "dataset": str(Path("data/raw/eyes")), "results": results}, run.results)


if __name__ == "__main__":
    main()

"""What the ordinal model buys: LogisticAT vs multinomial logistic regression vs the seed's polynomial SVC,
with and without the eye blendshapes, on the eyes pipeline's own split (same landmarks, same evaluation).

Run after `dvc repro landmarks@eyes`: python -m bench.eyes_models   (writes bench/results/eyes_models.json)
"""
from __future__ import annotations

import copy
from pathlib import Path

from bench.common import ROOT, write_result
from meshfer.config import load_params
from meshfer.pipeline import evaluate, feature_table, fit

VARIANTS = {
    "logistic_at": {"kind": "logistic_at", "alpha": 1.0},
    "multinomial_logreg": {"kind": "logreg", "C": 1.0},
    "poly_svc": {"kind": "svm", "kernel": "poly", "degree": 3, "C": 1.0, "gamma": "scale"},
}


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    base = params["eyes"]
    results = {}
    for with_blendshapes in (False, True):
        features_params = {**base["features"], "blendshapes": with_blendshapes}
        table = feature_table(ROOT / "data" / "eyes" / "landmarks", "eyes", features_params)
        for name, model in VARIANTS.items():
            section = copy.deepcopy(base)
            section["features"] = features_params
            section["model"] = {**model, "per_eye_samples": base["model"]["per_eye_samples"], "seed": 0}
            trained, _ = fit(table, "eyes", section, "eyes")
            metrics, report, _, _ = evaluate(trained, table)
            key = f"{name}{'+blendshapes' if with_blendshapes else ''}"
            results[key] = {split: {**m, "recall_wide": report[split]["per_class"]["wide"]["recall"]}
                            for split, m in metrics.items()}
            print(key, results[key]["test"])
    write_result("eyes_models", {"command": "python -m bench.eyes_models", "dataset": str(Path("data/raw/eyes")),
                                 "results": results})


if __name__ == "__main__":
    main()

"""The best landmark-only ensemble: the same validation-only choice as the `ensemble` stage (members and
combiner), among the candidates that never look at pixels (feature kinds without `needs_image`). Reads the
evaluate stages' saved probabilities.

Run after `dvc repro`: python -m bench.landmark_only   (writes bench/results/landmark_only.json)
"""
from __future__ import annotations

import pandas as pd

from bench.common import ROOT, landmark_only, write_result
from meshfer.training.config import load_params
from meshfer.training.ensemble import Stacked, choose, compare_on_validation, decide, final_proba, stacker_priors
from meshfer.labels import EXPRESSIONS
from meshfer.scores import headline, split_metrics


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    candidates = landmark_only(params)
    tables = {a: pd.read_parquet(ROOT / "data" / "predictions" / f"{a}.parquet") for a in candidates}
    stacked = Stacked.from_tables(tables)
    priors = stacker_priors(params, ROOT)
    comparison = compare_on_validation(stacked, params["ensemble"], priors)
    members, combiner = choose(comparison)
    predicted = decide(final_proba(stacked, members, combiner, params["ensemble"], priors)[0])
    copies = tables[members[0]]["near_copy"].to_numpy(bool)
    metrics = {}
    for split, mask in (("validation", stacked.split == "validation"), ("test", stacked.split == "test"),
                        ("test_unseen", (stacked.split == "test") & ~copies)):
        metrics[split] = split_metrics(stacked.y[mask], predicted[mask], EXPRESSIONS)
    print(members, combiner, metrics)
    write_result("landmark_only", {"command": "python -m bench.landmark_only", "candidates": candidates,
                                   "members": members, "combiner": combiner, "metrics": headline(metrics),
                                   "validation_accuracy_compared": comparison.to_dict(orient="records")})


if __name__ == "__main__":
    main()

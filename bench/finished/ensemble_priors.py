"""The ensemble's combiner fitted to validation's own label shares against the training split's (ensemble.priors):
the same choice of members and combiner as the `ensemble` stage, on the evaluate stages' saved probabilities.

Run after `dvc repro`: python -m bench.finished.ensemble_priors   (writes bench/results/ensemble_priors.json)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.common import write_result
from bench.finished.shared import arguments, smaller_frames
from meshfer.labels import EXPRESSIONS
from meshfer.scores import split_metrics
from meshfer.training.config import load_params
from meshfer.training.ensemble import Stacked, choose_ensemble, stacker_priors
from meshfer.training.scoring import decide


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")
    settings = params["ensemble"]
    tables = {a: pd.read_parquet(run.project / "data" / "predictions" / f"{a}.parquet")
              for a in settings["candidates"]}
    if run.smoke:
        tables = smaller_frames(tables)
    stacked = Stacked.from_tables(tables)
    splits = stacked.split_masks()
    surprise = EXPRESSIONS.index("surprise")
    result = {}
    for priors_name in ("validation", "training"):
        all_params = {**params, "ensemble": {**settings, "priors": priors_name}}
        chosen = choose_ensemble(stacked, settings, stacker_priors(all_params, run.project))
        members, combiner, stacker, comparison = chosen.members, chosen.combiner, chosen.stacker, chosen.comparison
        predicted = decide(chosen.proba)
        scores = {name: split_metrics(stacked.y[mask], predicted[mask], EXPRESSIONS) for name, mask in splits.items()}
        test = splits["test"]
        result[priors_name] = {
            "members": members, "combiner": combiner,
            "accuracy": {name: s["accuracy"] for name, s in scores.items()},
            "macro_f1": {name: s["macro_f1"] for name, s in scores.items()},
            "test_surprise_recall": round(float(np.mean(predicted[test & (stacked.y == surprise)] == surprise)), 4),
            "test_share_called_surprise": round(float(np.mean(predicted[test] == surprise)), 4),
            "stacked_validation_accuracy_compared": comparison.to_dict(orient="records"),
            **({"stacker_intercepts": dict(zip(EXPRESSIONS, np.round(
                stacker.named_steps["logreg"].intercept_, 3).tolist()))} if stacker is not None else {}),
        }
        print(priors_name, members, combiner, result[priors_name]["accuracy"])
    write_result("ensemble_priors", {"command": "python -m bench.finished.ensemble_priors", **result}, run.results)


if __name__ == "__main__":
    main()

"""The best landmark-only ensemble: the same validation-only choice as the `ensemble` stage (members and
combiner), among the candidates that never look at pixels (feature kinds without `needs_image`). Reads the
evaluate stages' saved probabilities.

Run after `dvc repro`: python -m bench.finished.landmark_only   (writes bench/results/landmark_only.json)
"""
from __future__ import annotations

import pandas as pd

from bench.common import write_result
from bench.finished.shared import arguments, landmark_only_approaches, smaller_frames
from meshfer.training.config import load_params
from meshfer.training.ensemble import Stacked, choose_ensemble, stacker_priors
from meshfer.training.scoring import decide
from meshfer.labels import EXPRESSIONS
from meshfer.scores import headline, split_metrics


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")
    candidates = landmark_only_approaches(params)
    tables = {a: pd.read_parquet(run.project / "data" / "predictions" / f"{a}.parquet") for a in candidates}
    if run.smoke:
        tables = smaller_frames(tables)
    stacked = Stacked.from_tables(tables)
    chosen = choose_ensemble(stacked, params["ensemble"], stacker_priors(params, run.project))
    members, combiner, comparison = chosen.members, chosen.combiner, chosen.comparison
    predicted = decide(chosen.proba)
    metrics = {split: split_metrics(stacked.y[mask], predicted[mask], EXPRESSIONS)
               for split, mask in stacked.split_masks().items()}
    print(members, combiner, metrics)
    write_result("landmark_only", {"command": "python -m bench.finished.landmark_only", "candidates": candidates,
                                   "members": members, "combiner": combiner, "metrics": headline(metrics),
                                   "validation_accuracy_compared": comparison.to_dict(orient="records")}, run.results)


if __name__ == "__main__":
    main()

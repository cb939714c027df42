"""The best landmark-only ensemble: the same validation-only choice as the `ensemble` stage, among the candidates
that never look at pixels (feature kinds without `needs_image`). Reads the evaluate stages' saved probabilities.

Run after `dvc repro`: python -m bench.landmark_only   (writes bench/results/landmark_only.json)
"""
from __future__ import annotations

import pandas as pd

from bench.common import ROOT, landmark_only, write_result
from meshfer.config import load_params
from meshfer.ensemble import select_members, soft_vote


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    candidates = landmark_only(params)
    tables = {a: pd.read_parquet(ROOT / "data" / "predictions" / f"{a}.parquet") for a in candidates}
    members, subsets = select_members(tables)
    metrics, _, _ = soft_vote([tables[m] for m in members])
    print(members, metrics)
    write_result("landmark_only", {"command": "python -m bench.landmark_only", "candidates": candidates,
                                   "members": members, "metrics": metrics,
                                   "validation_accuracy_of_subsets": subsets})


if __name__ == "__main__":
    main()

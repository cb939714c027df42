"""Soft voting: the mean of the members' calibrated probabilities, scored like any single approach."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from meshfer.evaluate import confusion, confusion_rows, per_class_report, split_metrics
from meshfer.labels import EXPRESSIONS
from meshfer.pipeline import decide

PROBA = [f"p_{name}" for name in EXPRESSIONS]


def mean_probabilities(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per image, the mean of the members' probabilities (NaN rows, no face, stay NaN)."""
    first = tables[0]
    for other in tables[1:]:
        if not (other["path"].to_numpy() == first["path"].to_numpy()).all():
            raise ValueError("ensemble members were evaluated on different images; re-run their evaluate stages")
    mean = np.mean([t[PROBA].to_numpy(float) for t in tables], axis=0)
    return first[["path", "split", "actual"]].assign(**dict(zip(PROBA, mean.T)))


def soft_vote(tables: list[pd.DataFrame]) -> tuple[dict, dict, pd.DataFrame]:
    voted = mean_probabilities(tables)
    index = {name: i for i, name in enumerate(EXPRESSIONS)}
    metrics, report, rows = {}, {}, None
    for split, group in voted.groupby("split", sort=False):
        y_true = group["actual"].map(index).to_numpy(int)
        y_pred = decide(group[PROBA].to_numpy(float))
        metrics[split] = split_metrics(y_true, y_pred, EXPRESSIONS)
        report[split] = {"per_class": per_class_report(y_true, y_pred, EXPRESSIONS),
                         "confusion": confusion(y_true, y_pred, EXPRESSIONS).to_dict(orient="index")}
        rows = confusion_rows(y_true, y_pred, EXPRESSIONS)
    return metrics, report, rows


def accuracy_of(table: pd.DataFrame, split: str) -> float:
    """Accuracy of a probability table on one split; rows of NaN (no face) count as wrong."""
    rows = table[table["split"] == split]
    predicted = decide(rows[PROBA].to_numpy(float))
    actual = rows["actual"].map({name: i for i, name in enumerate(EXPRESSIONS)}).to_numpy(int)
    return float(np.mean(predicted == actual)) if len(rows) else 0.0


def select_members(tables: dict[str, pd.DataFrame], min_members: int = 2) -> tuple[list[str], dict[str, float]]:
    """The subset of candidates whose soft vote is most accurate on validation (ties: fewer members first, then
    the candidates' order). Returns it and every subset's validation accuracy. Test data plays no part."""
    names = list(tables)
    scores = {}
    for size in range(min(min_members, len(names)), len(names) + 1):
        for subset in itertools.combinations(names, size):
            scores["+".join(subset)] = round(accuracy_of(mean_probabilities([tables[n] for n in subset]),
                                                         "validation"), 4)
    best = max(scores, key=lambda key: (scores[key], -key.count("+")))  # max keeps the first of equals
    return best.split("+"), scores

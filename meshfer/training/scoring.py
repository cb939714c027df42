"""Training wing: a model's probabilities and scores on the images of a feature table's splits.

Works with anything that has ``card`` and ``predict_proba(rows)``: a trained model (meshfer.training.trained) or
the exported file as serving runs it (meshfer.runtime.InferenceModel). An image with no face counts as wrong.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from meshfer.scores import NO_FACE_INDEX, headline, per_class_report, split_metrics
from meshfer.training.evaluate import confusion, confusion_rows
from meshfer.training.feature_table import DEDUPLICATED, EVAL_SPLITS, FeatureTable


class ScoredModel(Protocol):
    card: Any

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


def decide(proba: np.ndarray) -> np.ndarray:
    """Most probable label index per row; -1 for rows of NaN (no face)."""
    return np.where(np.isnan(proba[:, 0]), NO_FACE_INDEX, np.nan_to_num(proba, nan=-1).argmax(axis=1))


def predict_proba_images(model: ScoredModel, table: FeatureTable, split: str) -> np.ndarray:
    """(images of the split, labels): the probabilities per image, NaN where no face was found. A per-eye model's
    face-level probability is the mean of its two eyes."""
    every = table.rows(split, with_face=False)
    proba = np.full((int(every.sum()), len(model.card.labels)), np.nan)
    found = table.found[every]
    if found.any():
        out = np.concatenate([model.predict_proba(chunk) for chunk in
                              np.array_split(table.x(every & table.found), max(1, found.sum() // 4096))])
        proba[found] = out.mean(axis=1) if out.ndim == 3 else out
    return proba


def score(model: ScoredModel, table: FeatureTable, split: str) -> dict:
    """The split's scores (meshfer.scores.split_metrics), every image counted."""
    every = table.rows(split, with_face=False)
    return split_metrics(table.y[every], decide(predict_proba_images(model, table, split)), model.card.labels,
                         ordinal=model.card.task == "eyes")


def score_splits(model: ScoredModel, table: FeatureTable) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Headline metrics per split, a detailed report, the test confusion rows and per-image predictions."""
    labels, ordinal = model.card.labels, model.card.task == "eyes"
    scores, report, predictions = {}, {}, []
    for split in EVAL_SPLITS:
        every = table.rows(split, with_face=False)
        if not every.any():
            continue
        y_true = table.y[every]
        proba = predict_proba_images(model, table, split)
        y_pred = decide(proba)
        full = split_metrics(y_true, y_pred, labels, ordinal=ordinal)
        scores[split] = full
        report[split] = {**full, "per_class": per_class_report(y_true, y_pred, labels),
                         "confusion": confusion(y_true, y_pred, labels).to_dict(orient="index")}
        frame = pd.DataFrame(proba, columns=[f"p_{name}" for name in labels])
        frame.insert(0, "path", table.path[every])
        frame.insert(1, "split", split)
        frame.insert(2, "actual", np.array(labels)[y_true])
        frame.insert(3, "predicted", confusion_rows(y_true, y_pred, labels)["predicted"].to_numpy())
        frame.insert(4, "near_copy", table.near_copy[every])
        predictions.append(frame)
    unseen = unseen_test_metrics(model, table)
    if unseen:
        scores[DEDUPLICATED] = report[DEDUPLICATED] = unseen
    test = predictions[-1] if predictions else pd.DataFrame(columns=["actual", "predicted"])
    return headline(scores), report, test[["actual", "predicted"]], pd.concat(predictions, ignore_index=True)


def unseen_test_metrics(model: ScoredModel, table: FeatureTable) -> dict:
    """Scores on the test images that do not copy a training image (empty if none does)."""
    test, unseen = table.rows("test", False), table.rows(DEDUPLICATED, False)
    if not unseen.any() or unseen.sum() == test.sum():
        return {}
    keep = unseen[test]
    proba = predict_proba_images(model, table, "test")[keep]
    return {**split_metrics(table.y[unseen], decide(proba), model.card.labels,
                            ordinal=model.card.task == "eyes"), "copies_left_out": int(test.sum() - unseen.sum())}

"""Training wing: a model's probabilities and scores on the images of a feature table's splits.

Works with anything that has ``card`` and ``predict_proba(rows)``: a trained model (meshfer.training.trained) or
the exported file as serving runs it (meshfer.runtime.InferenceModel). An image with no face counts as wrong.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from meshfer.scores import NO_FACE_INDEX, split_metrics
from meshfer.training.feature_table import FeatureTable


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

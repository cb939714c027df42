"""Honest scores in plain numpy: images where no face was found count as wrong, because the user gets no answer.

Core: the pipeline's evaluate stage and ``meshfer evaluate`` score with the same functions.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NO_FACE_INDEX = -1


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels, n_labels + 1) counts: rows actual, columns predicted, the last column no face found."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    columns = np.where(y_pred == NO_FACE_INDEX, n_labels, y_pred)
    counts = np.zeros((n_labels, n_labels + 1), int)
    np.add.at(counts, (y_true, columns), 1)
    return counts


def per_class(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per label; a no-face prediction lowers its true label's recall and is
    no label's false positive. Undefined ratios (nothing predicted, nothing to find) are 0."""
    counts = confusion_counts(y_true, y_pred, n_labels)
    hits = np.diag(counts[:, :n_labels]).astype(float)
    support = counts.sum(axis=1)
    predicted = counts[:, :n_labels].sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros(n_labels), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(n_labels), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(n_labels), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def split_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], ordinal: bool = False) -> dict:
    """Scores of one split. ``y_pred`` holds a label index per image, ``-1`` where no face was found."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    n = len(labels)
    found = y_pred != NO_FACE_INDEX
    result = {
        "images": int(len(y_true)),
        "accuracy": _r(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": _r(per_class(y_true, y_pred, n)["f1"].mean()),
        "no_face_rate": _r(1 - found.mean()) if len(y_true) else 0.0,
        "detected_accuracy": _r(np.mean(y_true[found] == y_pred[found])) if found.any() else 0.0,
        "detected_macro_f1": _r(per_class(y_true[found], y_pred[found], n)["f1"].mean()) if found.any() else 0.0,
    }
    if ordinal and found.any():
        steps = np.abs(y_true[found] - y_pred[found])
        result["mae_steps"] = _r(steps.mean())
        result["off_by_more_than_one"] = _r((steps > 1).mean())
    return result


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    scores = per_class(y_true, y_pred, len(labels))
    return {name: {"precision": _r(scores["precision"][i]), "recall": _r(scores["recall"][i]),
                   "f1": _r(scores["f1"][i]), "support": int(scores["support"][i])} for i, name in enumerate(labels)}


def _r(value: float) -> float:
    return round(float(value), 4)


# The headline figures: what `dvc metrics show` lists for each approach and a bundled card carries: accuracy on
# validation (what every choice is made on), test, and the test images that are not copies of training images (and
# the eyes' mean error in ordinal steps, which grows as the model gets worse). Few and short, so that a sweep's
# `dvc exp show` and every approach's `dvc metrics show` fit a 160-column terminal; the rest is in metrics/reports/.
HEADLINE_SPLITS = {"validation": "val", "test": "test", "test_unseen": "unseen"}
HEADLINE_SCORES = {"accuracy": "acc", "mae_steps": "mae"}
HEADLINE_PER_SPLIT = {"validation": ("accuracy",), "test": ("accuracy", "mae_steps"), "test_unseen": ("accuracy",)}


def headline(scores_by_split: dict[str, dict]) -> dict[str, dict[str, float]]:
    """The headline of ``split_metrics`` results keyed by split (validation, test, test_unseen)."""
    return {short: {HEADLINE_SCORES[key]: scores[key] for key in HEADLINE_PER_SPLIT[split] if key in scores}
            for split, short in HEADLINE_SPLITS.items() if (scores := scores_by_split.get(split))}


def validation_accuracy(headline_metrics: dict) -> float:
    """The figure every choice between approaches is made on."""
    return headline_metrics.get("val", {}).get("acc", 0.0)

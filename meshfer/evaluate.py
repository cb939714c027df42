"""Honest scores: images where no face was found count as wrong, because the user gets no answer."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from meshfer.labels import NO_FACE

NO_FACE_INDEX = -1


def split_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], ordinal: bool = False) -> dict:
    """Scores of one split. ``y_pred`` holds a label index per image, ``-1`` where no face was found."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    classes = list(range(len(labels)))
    found = y_pred != NO_FACE_INDEX
    result = {
        "images": int(len(y_true)),
        "accuracy": _r(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        # The -1 predictions lower each true class's recall and are no class's false positive.
        "macro_f1": _r(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "no_face_rate": _r(1 - found.mean()) if len(y_true) else 0.0,
        "detected_accuracy": _r(accuracy_score(y_true[found], y_pred[found])) if found.any() else 0.0,
        "detected_macro_f1": _r(
            f1_score(y_true[found], y_pred[found], labels=classes, average="macro", zero_division=0)
        ) if found.any() else 0.0,
    }
    if ordinal and found.any():
        steps = np.abs(y_true[found] - y_pred[found])
        result["mae_steps"] = _r(steps.mean())
        result["off_by_more_than_one"] = _r((steps > 1).mean())
    return result


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(labels))), zero_division=0
    )
    return {
        name: {"precision": _r(p), "recall": _r(r), "f1": _r(f), "support": int(s)}
        for name, p, r, f, s in zip(labels, precision, recall, f1, support)
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Rows actual, columns predicted, with a last column for images with no face."""
    names = [*labels, NO_FACE]
    encode = np.where(np.asarray(y_pred) == NO_FACE_INDEX, len(labels), y_pred)
    matrix = confusion_matrix(y_true, encode, labels=list(range(len(names))))
    return pd.DataFrame(matrix, index=names, columns=names).iloc[: len(labels)]


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """One row per image (actual, predicted): the input DVC's confusion template expects."""
    names = np.array([*labels, NO_FACE])
    return pd.DataFrame({"actual": names[np.asarray(y_true)], "predicted": names[np.asarray(y_pred)]})


def save_confusion_png(matrix: pd.DataFrame, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(7, 6))
    rows = matrix.to_numpy()
    display = ConfusionMatrixDisplay(np.vstack([rows, np.zeros((1, rows.shape[1]), int)]),
                                     display_labels=list(matrix.columns))
    display.plot(ax=ax, colorbar=False, xticks_rotation=45, values_format="d")
    ax.set_ylim(len(matrix.index) - 0.5, -0.5)  # the no-face row is never an actual label
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _r(value: float) -> float:
    return round(float(value), 4)

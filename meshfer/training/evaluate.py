"""Training wing: the evaluation's tables and pictures (confusion matrices); the scores are meshfer.scores'."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from meshfer.labels import NO_FACE
from meshfer.scores import confusion_counts


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Rows actual, columns predicted, with a last column for images with no face."""
    return pd.DataFrame(confusion_counts(y_true, y_pred, len(labels)), index=list(labels),
                        columns=[*labels, NO_FACE])


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


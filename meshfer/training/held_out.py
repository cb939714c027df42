"""Held-out scores, the evaluate stage's work: an exported model scored on every evaluation split, with its tables and
pictures (confusion matrices); the scores are meshfer.scores'."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from meshfer.labels import NO_FACE_LABEL, probability_columns
from meshfer.scores import NO_FACE_INDEX, confusion_counts, headline, per_class_report, split_metrics
from meshfer.training.feature_table import TEST_WITHOUT_NEAR_COPIES, EVAL_SPLITS, FeatureTable
from meshfer.training.scoring import ScoredModel, decide, predict_proba_images


def subset_mark(dataset_params: dict) -> dict:
    """``{"subset": True}`` in the metrics and reports of a run on a subset of its dataset (``max_per_label`` > 0,
    e.g. `make quick`), so that its figures are never read as the project's; nothing for a full run."""
    return {"subset": True} if dataset_params.get("max_per_label") else {}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Rows actual, columns predicted, with a last column for images with no face."""
    return pd.DataFrame(confusion_counts(y_true, y_pred, len(labels)), index=list(labels),
                        columns=[*labels, NO_FACE_LABEL])


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """One row per image (actual, predicted), with each label's place in the task's order (no face last): the
    input of the confusion template .dvc/plots/confusion_ordered.json, which orders its axes by it."""
    names = np.array([*labels, NO_FACE_LABEL])
    actual, predicted = np.asarray(y_true) % len(names), np.asarray(y_pred) % len(names)  # no face (-1) is last
    return pd.DataFrame({"actual": names[actual], "predicted": names[predicted],
                         "actual_rank": actual, "predicted_rank": predicted})


def save_confusion_png(matrix: pd.DataFrame, path, title: str) -> None:
    """The counts as a picture: rows actual, columns predicted (the last column: no face found)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = matrix.to_numpy()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(counts, cmap="viridis")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, column), value in np.ndenumerate(counts):
        ax.text(column, row, str(value), ha="center", va="center", color="black" if value > threshold else "white")
    ax.set_xticks(range(counts.shape[1]), list(matrix.columns), rotation=45, ha="right")
    ax.set_yticks(range(counts.shape[0]), list(matrix.index))
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def source_of(path: str) -> str:
    """Which folder of a dataset an image came from: the one that holds its label folder (``root/<label>/x.jpg``)."""
    return Path(path).parent.parent.as_posix()


def accuracy_interval(correct: int, total: int, z: float = 1.96) -> list[float]:
    """Wilson's 95 % interval for an accuracy of ``correct`` of ``total`` (good at small counts and near 0 or 1)."""
    if not total:
        return [0.0, 1.0]
    share = correct / total
    centre = (share + z**2 / (2 * total)) / (1 + z**2 / total)
    half = z * np.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / (1 + z**2 / total)
    return [round(float(max(0.0, centre - half)), 4), round(float(min(1.0, centre + half)), 4)]


def _label_indices(frame: pd.DataFrame, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) label indices of the evaluate stage's rows; NO_FACE_INDEX where no face was found."""
    index = {name: i for i, name in enumerate([*labels, NO_FACE_LABEL])}
    y_true = frame["actual"].map(index).to_numpy(int)
    y_pred = frame["predicted"].map(index).to_numpy(int)
    return y_true, np.where(y_pred == len(labels), NO_FACE_INDEX, y_pred)


def group_report(frame: pd.DataFrame, labels: Sequence[str], ordinal: bool, confusion_table: bool = False) -> dict:
    """Scores of some of the evaluate stage's rows: accuracy with its 95 % interval, per-class figures, and the
    confusion (rows actual, columns predicted) when asked."""
    y_true, y_pred = _label_indices(frame, labels)
    out = {**split_metrics(y_true, y_pred, labels, ordinal=ordinal),
           "accuracy_ci95": accuracy_interval(int(np.sum(y_true == y_pred)), len(y_true)),
           "per_class": per_class_report(y_true, y_pred, labels)}
    if confusion_table:
        out["confusion"] = confusion(y_true, y_pred, labels).to_dict(orient="index")
    return out


def by_group(predictions: pd.DataFrame, groups: pd.Series, labels: Sequence[str], ordinal: bool,
             confusion_table: bool = False) -> dict:
    """Per split and per group (a value per row of ``predictions``; rows with none are left out): group_report."""
    result: dict = {}
    known = groups.notna()
    for (split, group), rows in predictions[known].groupby([predictions["split"][known], groups[known]], sort=True):
        result.setdefault(split, {})[str(group)] = group_report(rows, labels, ordinal, confusion_table)
    return result


def by_source(predictions: pd.DataFrame, labels: Sequence[str], ordinal: bool) -> dict:
    """Per split and per source folder: the scores and per-class figures (empty when all images share a source).
    ``predictions`` has the evaluate stage's columns (path, split, actual, predicted; NO_FACE_LABEL for no face)."""
    sources = predictions["path"].map(source_of)
    if sources.nunique() < 2:
        return {}
    return by_group(predictions, sources, labels, ordinal)


def by_annotator(predictions: pd.DataFrame, annotators: dict[str, int], labels: Sequence[str], ordinal: bool
                 ) -> dict:
    """Per split and per annotator (``annotators``: image path -> who labelled it; images of no listed annotator
    are left out): accuracy with its interval, per-class figures and the confusion. Empty without annotators."""
    if not annotators:
        return {}
    found = predictions["path"].map(annotators)
    return by_group(predictions, found.map(lambda a: f"annotator {int(a)}", na_action="ignore"), labels, ordinal,
                    confusion_table=True)


def agreement_report(predictions: pd.DataFrame, agreement: pd.DataFrame, labels: Sequence[str]) -> dict:
    """The model beside a blind second annotator, on the faces both labelled that fall in validation or test (the
    rest are training faces). ``agreement``: path, blind_label, blind_confidence ('sure' or not) per face; the set's
    label is ``predictions``' actual. Per split and both together: how often the model agrees with the set's label
    and with the blind one, and how often the two annotators agree on the same faces, each with its 95 % interval."""
    rows = predictions.merge(agreement, on="path", how="inner")
    rows = rows[rows["split"].isin(("validation", "test"))]
    out: dict = {"faces_in_validation_or_test": int(len(rows)), "faces_listed": int(len(agreement))}
    for name, part in (("validation", rows[rows["split"] == "validation"]), ("test", rows[rows["split"] == "test"]),
                       ("validation+test", rows), ("validation+test, blind annotator sure",
                                                   rows[rows["blind_confidence"] == "sure"])):
        pairs = {"model_vs_set_label": part["predicted"] == part["actual"],
                 "model_vs_blind_label": part["predicted"] == part["blind_label"],
                 "blind_vs_set_label": part["blind_label"] == part["actual"]}
        out[name] = {"faces": int(len(part)), **{
            key: {"agreement": round(float(hit.mean()), 4) if len(part) else None,
                  "ci95": accuracy_interval(int(hit.sum()), len(part))} for key, hit in pairs.items()}}
    return out


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
        frame = pd.DataFrame(proba, columns=probability_columns(labels))
        frame.insert(0, "path", table.path[every])
        frame.insert(1, "split", split)
        frame.insert(2, "actual", np.array(labels)[y_true])
        frame.insert(3, "predicted", confusion_rows(y_true, y_pred, labels)["predicted"].to_numpy())
        frame.insert(4, "near_copy", table.near_copy[every])
        predictions.append(frame)
    without_copies = metrics_without_near_copies(model, table)
    if without_copies:
        scores[TEST_WITHOUT_NEAR_COPIES] = report[TEST_WITHOUT_NEAR_COPIES] = without_copies
    none = np.zeros(0, int)
    test = confusion_rows(y_true, y_pred, labels) if predictions else confusion_rows(none, none, labels)
    return headline(scores), report, test, pd.concat(predictions, ignore_index=True)


def metrics_without_near_copies(model: ScoredModel, table: FeatureTable) -> dict:
    """Scores on the test images that do not copy a training image (empty if none does)."""
    test, without_copies = table.rows("test", False), table.rows(TEST_WITHOUT_NEAR_COPIES, False)
    if not without_copies.any() or without_copies.sum() == test.sum():
        return {}
    keep = without_copies[test]
    proba = predict_proba_images(model, table, "test")[keep]
    scores = split_metrics(table.y[without_copies], decide(proba), model.card.labels, ordinal=model.card.task == "eyes")
    return {**scores, "copies_left_out": int(test.sum() - without_copies.sum())}

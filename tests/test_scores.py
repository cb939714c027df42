"""The numpy scores shared by the pipeline and `meshfer evaluate`."""
import numpy as np
import pytest

from meshfer.training.held_out import confusion
from meshfer.scores import per_class_report, split_metrics


def test_no_face_counts_as_wrong():
    labels = ["a", "b"]
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, -1, 1, 0])
    m = split_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == 0.5 and m["no_face_rate"] == 0.25
    assert m["detected_accuracy"] == round(2 / 3, 4)
    # class a: precision 1/2, recall 1/2 -> 0.5; class b: precision 1, recall 1/2 -> 2/3
    assert m["macro_f1"] == round((0.5 + 2 / 3) / 2, 4)


def test_ordinal_figures():
    m = split_metrics(np.array([0, 1, 2, 3]), np.array([0, 2, 0, -1]), ["w", "o", "n", "c"], ordinal=True)
    assert m["mae_steps"] == 1.0 and m["off_by_more_than_one"] == round(1 / 3, 4)


def test_confusion_has_no_face_column():
    matrix = confusion(np.array([0, 1, 1]), np.array([-1, 1, 0]), ["a", "b"])
    assert list(matrix.columns) == ["a", "b", "no_face"] and matrix.loc["a", "no_face"] == 1
    assert matrix.to_numpy().sum() == 3


def test_split_without_any_face_scores_zero_instead_of_failing():
    m = split_metrics(np.array([0, 1, 1]), np.array([-1, -1, -1]), ["a", "b"])
    assert m["accuracy"] == 0.0 and m["no_face_rate"] == 1.0
    assert m["detected_accuracy"] == 0.0 and m["detected_macro_f1"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_as_scikit_learn_on_found_faces_and_with_lost_ones(seed):
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 7, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 7, 300))
    y_pred[rng.random(300) < 0.05] = -1  # no face
    labels = [str(i) for i in range(7)]
    m = split_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == round(accuracy_score(y_true, y_pred), 4)
    assert m["macro_f1"] == round(f1_score(y_true, y_pred, labels=range(7), average="macro", zero_division=0), 4)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=range(7), zero_division=0)
    report = per_class_report(y_true, y_pred, labels)
    assert [report[n]["recall"] for n in labels] == [round(float(r), 4) for r in recall]
    assert [report[n]["precision"] for n in labels] == [round(float(p), 4) for p in precision]
    assert [report[n]["support"] for n in labels] == support.tolist()

"""The evaluate stage's per-annotator and agreement reports (meshfer.training.held_out, .annotations)."""
import pandas as pd
import pytest

from meshfer.training.annotations import agreement_faces, annotators_by_path
from meshfer.training.held_out import accuracy_interval, agreement_report, by_annotator

LABELS = ["wide", "open", "narrowed", "closed"]


def test_accuracy_interval_is_wilsons():
    low, high = accuracy_interval(82, 100)
    assert (low, high) == (pytest.approx(0.7333, abs=1e-4), pytest.approx(0.8830, abs=1e-4))
    assert accuracy_interval(10, 10)[1] == 1.0 and accuracy_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    assert accuracy_interval(0, 0) == [0.0, 1.0]


def _predictions():
    rows = [  # path, split, actual, predicted
        ("r/eye_wide/a.jpg", "test", "wide", "wide"), ("r/eye_wide/b.jpg", "test", "wide", "open"),
        ("r/eye_open/c.jpg", "test", "open", "open"), ("r/eye_closed/d.jpg", "test", "closed", "no_face"),
        ("r/eye_open/e.jpg", "validation", "open", "open"), ("s/eye_open/f.jpg", "test", "open", "open"),
    ]
    return pd.DataFrame(rows, columns=["path", "split", "actual", "predicted"])


def test_by_annotator_scores_each_annotators_faces_with_intervals_and_confusion():
    annotators = {"r/eye_wide/a.jpg": 1, "r/eye_wide/b.jpg": 2, "r/eye_open/c.jpg": 2, "r/eye_closed/d.jpg": 2,
                  "r/eye_open/e.jpg": 1}
    report = by_annotator(_predictions(), annotators, LABELS, ordinal=True)
    assert set(report) == {"test", "validation"} and set(report["test"]) == {"annotator 1", "annotator 2"}
    two = report["test"]["annotator 2"]
    assert two["images"] == 3 and two["accuracy"] == pytest.approx(1 / 3, abs=1e-4)  # no face counts as wrong
    assert two["accuracy_ci95"] == accuracy_interval(1, 3)
    assert two["confusion"]["wide"]["open"] == 1 and two["confusion"]["closed"]["no_face"] == 1
    assert report["test"]["annotator 1"]["accuracy"] == 1.0  # s/... has no annotator: left out
    assert by_annotator(_predictions(), {}, LABELS, ordinal=True) == {}


def test_agreement_report_scores_only_held_out_faces_beside_the_blind_annotator():
    predictions = _predictions()
    predictions.loc[len(predictions)] = ("r/eye_open/t.jpg", "train", "open", "open")
    agreement = pd.DataFrame({"path": ["r/eye_wide/a.jpg", "r/eye_wide/b.jpg", "r/eye_open/e.jpg", "r/eye_open/t.jpg"],
                              "blind_label": ["wide", "open", "narrowed", "open"],
                              "blind_confidence": ["sure", "unsure", "sure", "sure"]})
    report = agreement_report(predictions, agreement, LABELS)
    assert report["faces_listed"] == 4 and report["faces_in_validation_or_test"] == 3  # t.jpg is a training face
    both = report["validation+test"]
    assert both["faces"] == 3
    assert both["model_vs_set_label"]["agreement"] == pytest.approx(2 / 3, abs=1e-4)   # a, e right; b wrong
    assert both["model_vs_blind_label"]["agreement"] == pytest.approx(2 / 3, abs=1e-4)  # a, b right; e wrong
    assert both["blind_vs_set_label"]["agreement"] == pytest.approx(1 / 3, abs=1e-4)    # only a
    assert report["validation+test, blind annotator sure"]["faces"] == 2
    assert report["test"]["faces"] == 2 and report["validation"]["faces"] == 1


def test_annotations_are_read_from_each_folders_labels_and_agreement_files(tmp_path):
    root = tmp_path / "eyes_fer"
    root.mkdir()
    pd.DataFrame({"file": ["eye_wide/x.jpg", "eye_open/y.jpg"], "label": ["wide", "open"],
                  "source_path": ["train/s/1.jpg", "train/s/2.jpg"], "annotator": [1, 3]}).to_csv(
        root / "labels.csv", index=False)
    pd.DataFrame({"source_path": ["train/s/2.jpg", "train/s/9.jpg"], "label": ["open", "wide"],
                  "annotator": [3, 1], "blind_label": ["narrowed", "wide"],
                  "blind_confidence": ["sure", "sure"]}).to_csv(root / "agreement.csv", index=False)
    roots = [{"root": str(tmp_path / "other")}, {"root": str(root), "agreement": "agreement.csv"}]
    assert annotators_by_path(roots) == {f"{root}/eye_wide/x.jpg": 1, f"{root}/eye_open/y.jpg": 3}
    faces = agreement_faces(roots)
    assert faces.to_dict("records") == [{"path": f"{root}/eye_open/y.jpg", "blind_label": "narrowed",
                                         "blind_confidence": "sure"}]  # 9.jpg is not in the set: left out

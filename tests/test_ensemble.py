import numpy as np
import pandas as pd

from meshfer.ensemble import PROBA, accuracy_of, select_members
from meshfer.labels import EXPRESSIONS


def _table(predicted: list[int], actual: list[int], split: list[str]) -> pd.DataFrame:
    proba = np.full((len(predicted), len(EXPRESSIONS)), 0.1)
    proba[np.arange(len(predicted)), predicted] = 0.4
    table = pd.DataFrame(proba / proba.sum(axis=1, keepdims=True), columns=PROBA)
    table.insert(0, "path", [f"{i}.jpg" for i in range(len(predicted))])
    table.insert(1, "split", split)
    table.insert(2, "actual", np.array(EXPRESSIONS)[actual])
    return table


def test_members_are_chosen_on_validation_only():
    actual, split = [0, 1, 2, 0, 1, 2], ["validation"] * 3 + ["test"] * 3
    tables = {
        "a": _table([0, 1, 0, 0, 1, 2], actual, split),  # 2/3 on validation, perfect on test
        "b": _table([0, 1, 2, 3, 3, 3], actual, split),  # perfect on validation, 0/3 on test
        "c": _table([0, 1, 2, 3, 3, 3], actual, split),
    }
    assert accuracy_of(tables["a"], "test") == 1.0
    members, scores = select_members(tables)
    assert members == ["b", "c"], "the validation winner, however badly it does on test"
    assert scores["b+c"] == 1.0 and set(scores) == {"a+b", "a+c", "b+c", "a+b+c"}


def test_a_lost_face_counts_as_wrong():
    table = _table([0, 1], [0, 1], ["validation", "validation"])
    table.loc[1, PROBA] = np.nan
    assert accuracy_of(table, "validation") == 0.5

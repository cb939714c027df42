"""Ensembles: chosen on validation only; stacking scored by cross-fitting; the served combiner is the fitted one."""
import numpy as np
import pandas as pd
import pytest

from meshfer.training.ensemble import PROBA, Stacked, accuracy, choose, compare_on_validation, final_proba, stack_proba
from meshfer.labels import EXPRESSIONS

PARAMS = {"min_members": 2, "combiners": ["mean", "stacking"], "C": 1.0, "folds": 3, "seed": 0}


def _table(predicted: list[int], actual: list[int], split: list[str], confidence: float = 0.4) -> pd.DataFrame:
    proba = np.full((len(predicted), len(EXPRESSIONS)), 0.1)
    proba[np.arange(len(predicted)), predicted] = confidence
    table = pd.DataFrame(proba / proba.sum(axis=1, keepdims=True), columns=PROBA)
    table.insert(0, "path", [f"{i}.jpg" for i in range(len(predicted))])
    table.insert(1, "split", split)
    table.insert(2, "actual", np.array(EXPRESSIONS)[actual])
    table["near_copy"] = False
    return table


def test_members_are_chosen_on_validation_only():
    actual, split = [0, 1, 2, 0, 1, 2], ["validation"] * 3 + ["test"] * 3
    tables = {
        "a": _table([0, 1, 0, 0, 1, 2], actual, split),  # 2/3 on validation, perfect on test
        "b": _table([0, 1, 2, 3, 3, 3], actual, split),  # perfect on validation, 0/3 on test
        "c": _table([0, 1, 2, 3, 3, 3], actual, split),
    }
    stacked = Stacked.from_tables(tables)
    comparison = compare_on_validation(stacked, {**PARAMS, "combiners": ["mean"]})
    assert set(comparison["members"]) == {"a+b", "a+c", "b+c", "a+b+c"}
    assert choose(comparison) == (["b", "c"], "mean"), "the validation winner, however badly it does on test"


def test_a_lost_face_counts_as_wrong():
    table = _table([0, 1], [0, 1], ["validation", "validation"])
    table.loc[1, PROBA] = np.nan
    assert accuracy(table[PROBA].to_numpy(float), np.array([0, 1])) == 0.5


def _learnable(n=300, seed=0) -> dict[str, pd.DataFrame]:
    """Two members whose probabilities carry the label in a way a plain average misses (member b is confident
    and wrong by one class), so stacking can do better than soft voting."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 7, n)
    split = np.where(np.arange(n) < n // 2, "validation", "test")
    a = _table(np.where(rng.random(n) < 0.6, actual, rng.integers(0, 7, n)), actual, split)
    b = _table((actual + 1) % 7, actual, split, confidence=0.9)
    return {"a": a, "b": b}


def test_stacking_is_cross_fitted_and_learns_what_voting_cannot():
    stacked = Stacked.from_tables(_learnable())
    val = stacked.subset(["a", "b"], "validation")
    crossed = stack_proba(val, PARAMS)
    assert accuracy(crossed, val.y) > 0.9 > accuracy(val.proba.mean(axis=1), val.y)
    comparison = compare_on_validation(stacked, PARAMS)
    assert choose(comparison) == (["a", "b"], "stacking")


def test_the_exported_combiner_computes_the_fitted_one(tmp_path):
    import onnxruntime as ort

    from meshfer.training.ensemble import export_stacker, stacking_inputs
    from meshfer.training.onnx_graph import save_onnx

    stacked = Stacked.from_tables(_learnable())
    proba, stacker = final_proba(stacked, ["a", "b"], "stacking", PARAMS)
    save_onnx(export_stacker(stacker, 2), tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    test = stacked.split == "test"
    served = session.run(["probabilities"], {"features": stacking_inputs(stacked.proba[test]).astype(np.float32)})[0]
    np.testing.assert_allclose(served, proba[test], atol=1e-5)
    assert not np.isnan(proba).any()


@pytest.mark.parametrize("members", [["a"], ["a", "b"]])
def test_final_mean_is_the_average(members):
    stacked = Stacked.from_tables(_learnable())
    proba, stacker = final_proba(stacked, members, "mean", PARAMS)
    assert stacker is None
    np.testing.assert_allclose(proba, stacked.subset(members).proba.mean(axis=1))


def test_the_stacker_is_fitted_to_the_training_shares_not_validations():
    """Validation where label 1 is rare: unweighted, the stacker learns that rarity; weighted to training shares
    where label 1 is as common as label 0, an ambiguous face goes to label 1 far more often."""
    from meshfer.training.ensemble import prior_weights

    rng = np.random.default_rng(1)
    actual = np.where(rng.random(600) < 0.9, 0, 1)
    noisy = np.where(rng.random(600) < 0.7, actual, 1 - actual)  # the member is right 70 % of the time
    stacked = Stacked.from_tables({"a": _table(noisy, actual, ["validation"] * 600),
                                   "b": _table(noisy, actual, ["validation"] * 600)})
    priors = np.zeros(len(EXPRESSIONS))
    priors[:2] = 0.5
    weights = prior_weights(stacked.y, priors)
    assert np.isclose(weights[stacked.y == 0].sum(), weights[stacked.y == 1].sum())
    as_validation = stack_proba(stacked, PARAMS)
    as_training = stack_proba(stacked, PARAMS, priors)
    said_one = lambda proba: float(np.mean(proba.argmax(axis=1) == 1))  # noqa: E731
    assert said_one(as_validation) < 0.05 < 0.2 < said_one(as_training)


def test_training_shares_count_original_training_images_only():
    from meshfer.training.ensemble import training_priors

    manifest = pd.DataFrame({"label": ["happy", "happy", "sad", "disgust", "disgust", "angry"],
                             "split": ["train", "train", "train", "train", "train", "validation"],
                             "augmented": [False, False, False, False, True, False]})
    priors = training_priors(manifest)
    assert priors[EXPRESSIONS.index("happy")] == 0.5 and priors[EXPRESSIONS.index("disgust")] == 0.25
    assert priors[EXPRESSIONS.index("angry")] == 0 and np.isclose(priors.sum(), 1)

import json

import numpy as np
import pytest

from meshfer.labels import EYE_STATES, EXPRESSIONS
from meshfer.models import ModelCard, ModelLoadError, TrainedModel, build_estimator, fit_quietly, load_model


def _data(n_classes, n=140, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d)) + y[:, None] * 0.8
    return X, y


def _card(task="expression", kind="distances", version=1, labels=None):
    return ModelCard(approach="t", task=task, labels=list(labels or (EXPRESSIONS if task == "expression" else EYE_STATES)),
                     feature_kind=kind, feature_version=version, feature_params={"kind": kind}, model_params={})


@pytest.fixture
def saved_svm(tmp_path):
    X, y = _data(7)
    est = build_estimator({"kind": "svm", "C": 5, "pca_components": 3, "seed": 0})
    TrainedModel(_card(), fit_quietly(est, X, y)).save(tmp_path / "m")
    return tmp_path / "m", X


def test_svm_roundtrip_probabilities_sum_to_one(saved_svm):
    directory, X = saved_svm
    model = load_model(directory)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)


def test_gradient_boosting_roundtrip_is_exact_and_pickle_free(tmp_path):
    X, y = _data(7, d=8)
    est = build_estimator({"kind": "hgb", "pca_components": 4, "pca_columns": 6, "max_iter": 30, "seed": 0})
    TrainedModel(_card(), est.fit(X, y)).save(tmp_path / "hgb")
    model = load_model(tmp_path / "hgb")
    np.testing.assert_array_equal(model.predict_proba(X), est.predict_proba(X))
    assert model.predict_proba(X).argmax(axis=1).tolist() == est.predict(X).tolist()


def test_ordinal_per_eye_model_roundtrip(tmp_path):
    X, y = _data(4, d=4)
    est = build_estimator({"kind": "logistic_at", "alpha": 1.0, "per_eye_samples": True, "seed": 0})
    TrainedModel(_card("eyes", "eyes"), est.fit(X, y)).save(tmp_path / "eyes")
    model = load_model(tmp_path / "eyes")
    per_eye = model.estimator.predict_proba_per_eye(X)
    assert per_eye.shape == (len(X), 2, 4)
    np.testing.assert_allclose(model.predict_proba(X), per_eye.mean(axis=1))


def test_card_mismatch_is_refused(saved_svm):
    directory, _ = saved_svm
    card = json.loads((directory / "card.json").read_text())
    (directory / "card.json").write_text(json.dumps({**card, "feature_version": 99}))
    with pytest.raises(ModelLoadError, match="version 99"):
        load_model(directory)
    (directory / "card.json").write_text(json.dumps({**card, "labels": list(reversed(EXPRESSIONS))}))
    with pytest.raises(ModelLoadError, match="labels"):
        load_model(directory)


def test_corrupt_or_missing_model_file(saved_svm, tmp_path):
    directory, _ = saved_svm
    (directory / "model.skops").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a readable skops model"):
        load_model(directory)
    (directory / "model.skops").unlink()
    with pytest.raises(ModelLoadError, match="no model file"):
        load_model(directory)
    with pytest.raises(ModelLoadError, match="no model directory"):
        load_model(tmp_path / "absent")


def test_untrusted_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(7)
    (tmp_path / "m").mkdir()
    sio.dump(RandomForestClassifier(n_estimators=2).fit(X, y), tmp_path / "m" / "model.skops")
    (tmp_path / "m" / "card.json").write_text(_card().to_json())
    with pytest.raises(ModelLoadError, match="does not trust"):
        load_model(tmp_path / "m")


def test_label_order_is_the_ordinal_order():
    assert EYE_STATES == ("wide", "open", "narrowed", "closed")

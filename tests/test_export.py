"""Trained models (scikit-learn, mord, Keras) exported to ONNX: the file computes what the model computes, its
bytes depend only on the model, and serving refuses files that are damaged, replaced or mislabelled."""
import json

import numpy as np
import pytest

from meshfer.card import ModelCard, ModelLoadError
from meshfer.training.estimators import build_estimator, fit_quietly
from meshfer.labels import EXPRESSIONS, EYE_STATES
from meshfer.training.onnx_export import export_onnx, parity
from meshfer.training.onnx_graph import save_onnx
from meshfer.training.trained import TrainedModel, load_trained
from meshfer.runtime import load_model


def _data(n_classes, n=140, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d)) + y[:, None] * 0.8
    return X.astype(np.float32), y


def _card(task="expression", kind="distances", version=1, fmt="model.skops", model_kind="svm"):
    labels = EXPRESSIONS if task == "expression" else EYE_STATES
    return ModelCard(approach="t", task=task, labels=list(labels), feature_kind=kind, feature_version=version,
                     feature_params={"kind": kind}, model_params={"kind": model_kind}, format=fmt)


def _export(model: TrainedModel, n_features, directory):
    from dataclasses import replace

    from meshfer.card import sha256_of

    directory.mkdir(parents=True, exist_ok=True)
    save_onnx(export_onnx(model, n_features), directory / "model.onnx")
    replace(model.card, format="model.onnx", file_sha256=sha256_of(directory / "model.onnx")).write(directory)
    return load_model(directory)


SKLEARN = {
    "svm+pca": (7, 6, {"kind": "svm", "C": 5, "pca_components": 3, "seed": 0}),
    "svm": (7, 6, {"kind": "svm", "C": 5, "seed": 0}),
    "hgb+column pca": (7, 8, {"kind": "hgb", "pca_components": 4, "pca_columns": 6, "max_iter": 30, "seed": 0}),
    "logreg": (7, 6, {"kind": "logreg", "seed": 0}),
}


@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_models_export_exactly(tmp_path, name):
    n_classes, d, params = SKLEARN[name]
    X, y = _data(n_classes, d=d)
    model = TrainedModel(_card(), fit_quietly(build_estimator(params), X, y))
    exported = _export(model, d, tmp_path / "m")
    check = parity(model, exported, X)
    assert check["argmax_agreement"] == 1.0 and check["max_abs_probability_difference"] < 1e-4
    assert exported.predict_proba(X[:1]).shape == (1, 7)


def test_ordinal_per_eye_model_exports_per_eye(tmp_path):
    X, y = _data(4, d=4)
    model = TrainedModel(_card("eyes", "eyes"), build_estimator({"kind": "logistic_at", "alpha": 1.0,
                                                                  "per_eye_samples": True, "seed": 0}).fit(X, y))
    exported = _export(model, 4, tmp_path / "eyes")
    per_eye = exported.predict_proba(X)
    assert per_eye.shape == (len(X), 2, 4)
    np.testing.assert_allclose(per_eye, model.estimator.predict_proba_per_eye(X), atol=1e-5)


def test_a_label_missing_from_training_gets_a_zero_column(tmp_path):
    X, y = _data(7)
    keep = y != 1
    model = TrainedModel(_card(), fit_quietly(build_estimator({"kind": "logreg", "seed": 0}), X[keep], y[keep]))
    proba = _export(model, 6, tmp_path / "m").predict_proba(X)
    assert proba.shape == (len(X), 7) and (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


def test_re_export_writes_identical_bytes(tmp_path):
    X, y = _data(7, d=8)
    model = TrainedModel(_card(), build_estimator(SKLEARN["hgb+column pca"][2]).fit(X, y))
    _export(model, 8, tmp_path / "a")
    _export(model, 8, tmp_path / "b")
    assert (tmp_path / "a" / "model.onnx").read_bytes() == (tmp_path / "b" / "model.onnx").read_bytes()


@pytest.mark.parametrize("kind", ["cnn", "gnn"])
def test_networks_export_exactly_and_reproducibly(tmp_path, kind):
    from meshfer.training.networks import KerasClassifier, train_network

    rng = np.random.default_rng(0)
    if kind == "cnn":
        X = np.hstack([rng.random((64, 16 * 16)), rng.normal(size=(64, 478 * 2 + 52))]).astype(np.float32)
        params = {"kind": "cnn", "seed": 0, "image_size": 16, "filters": [4, 8], "dense_units": 8, "dropout": 0.1,
                  "block_dropout": 0.1, "shift": 0.05, "contrast": 0.1, "learning_rate": 1e-3, "patience": 2,
                  "epochs": 1, "batch_size": 32, "flip": True, "tta_flip": True, "erase": 0.5}
    else:
        X = rng.normal(size=(64, 478, 2)).astype(np.float32)
        params = {"kind": "gnn", "seed": 0, "channels": [8], "conv": "gcn", "dropout": 0.1, "pooling": "flatten",
                  "dense_units": 16, "l2": 1e-4, "learning_rate": 1e-3, "patience": 2, "epochs": 1, "batch_size": 32}
    y = np.arange(64) % 7
    network, _ = train_network(X, y, X[:16], y[:16], 7, params)
    model = TrainedModel(_card(fmt="model.keras"), KerasClassifier(network))
    model.card.model_params = params
    exported = _export(model, X.shape[1:], tmp_path / "a")
    check = parity(model, exported, X)
    assert check["argmax_agreement"] == 1.0 and check["max_abs_probability_difference"] < 1e-4
    _export(model, X.shape[1:], tmp_path / "b")
    assert (tmp_path / "a" / "model.onnx").read_bytes() == (tmp_path / "b" / "model.onnx").read_bytes()
    model.save(tmp_path / "native")  # the train stage's own file round-trips too
    np.testing.assert_allclose(load_trained(tmp_path / "native").predict_proba(X[:5]), model.predict_proba(X[:5]),
                               rtol=1e-5)


def test_native_files_refuse_untrusted_types(tmp_path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(7)
    (tmp_path / "m").mkdir()
    sio.dump(RandomForestClassifier(n_estimators=2).fit(X, y), tmp_path / "m" / "model.skops")
    _card().write(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="does not trust"):
        load_trained(tmp_path / "m")


@pytest.fixture
def exported_dir(tmp_path):
    X, y = _data(7)
    model = TrainedModel(_card(), fit_quietly(build_estimator({"kind": "logreg", "seed": 0}), X, y))
    _export(model, 6, tmp_path / "m")
    return tmp_path / "m"


def test_serving_refuses_mismatched_cards(exported_dir):
    card = json.loads((exported_dir / "card.json").read_text())
    (exported_dir / "card.json").write_text(json.dumps({**card, "feature_version": 99}))
    with pytest.raises(ModelLoadError, match="version 99"):
        load_model(exported_dir)
    (exported_dir / "card.json").write_text(json.dumps({**card, "labels": list(reversed(EXPRESSIONS))}))
    with pytest.raises(ModelLoadError, match="labels"):
        load_model(exported_dir)
    (exported_dir / "card.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not a meshfer model card"):
        load_model(exported_dir)


def test_serving_refuses_damaged_replaced_or_missing_files(exported_dir, tmp_path):
    original = (exported_dir / "model.onnx").read_bytes()
    (exported_dir / "model.onnx").write_bytes(original[:-10])
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load_model(exported_dir)
    card = json.loads((exported_dir / "card.json").read_text())
    (exported_dir / "card.json").write_text(json.dumps({**card, "file_sha256": ""}))  # no hash to check
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(exported_dir)
    (exported_dir / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="no model file"):
        load_model(exported_dir)
    with pytest.raises(ModelLoadError, match="no model directory"):
        load_model(tmp_path / "absent")

"""The Keras approaches: the mesh graph, the training loop's options, the flip augmentation, native storage."""
import numpy as np
import pytest

from meshfer import mesh
from meshfer.training.config import load_arrays, save_arrays
from meshfer.training.gnn import adjacency, normalized_adjacency
from meshfer.training.networks import load_keras, rebuilt, save_keras, train_network

CNN = {"kind": "cnn", "seed": 0, "image_size": 16, "filters": [4, 8], "dense_units": 8, "dropout": 0.1,
       "block_dropout": 0.1, "shift": 0.05, "contrast": 0.1, "learning_rate": 1e-3, "patience": 2, "epochs": 2,
       "batch_size": 32}


def _cnn_rows(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return np.hstack([rng.random((n, 16 * 16)), rng.normal(size=(n, 478 * 2 + 52))]).astype(np.float32)


def test_adjacency_is_symmetric_over_all_nodes():
    a = adjacency(self_loops=False)
    assert a.shape == (478, 478)
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    # 1322 tessellation edges + 2 x 4 iris-ring edges, each stored in both directions
    assert a.nnz == 2 * len(mesh.tessellation_edges()) == 2 * 1330
    norm = normalized_adjacency()
    assert np.allclose(norm.toarray(), norm.toarray().T)


def test_gnn_with_a_dense_adjacency_is_the_same_function(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 478, 2)).astype(np.float32)
    y = np.arange(64) % 7
    params = {"kind": "gnn", "seed": 0, "channels": [8], "conv": "gcn", "dropout": 0.1, "pooling": "flatten",
              "dense_units": 16, "l2": 1e-4, "learning_rate": 1e-3, "patience": 2, "epochs": 1, "batch_size": 32}
    model, history = train_network(X, y, X[:16], y[:16], 7, params)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    np.testing.assert_allclose(rebuilt(model, dense_adjacency=True)(X[:5]).numpy(), model(X[:5]).numpy(), atol=1e-5)
    save_keras(model, tmp_path / "model.keras")
    np.testing.assert_allclose(load_keras(tmp_path / "model.keras", "gnn").predict_proba(X[:5]), model(X[:5]).numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("options", [
    {},
    {"schedule": "cosine", "warmup_epochs": 1, "weight_decay": 1e-4, "label_smoothing": 0.1},
    {"mixup": 0.2, "flip": True, "erase": 0.5, "tta_flip": True},
])
def test_cnn_training_options_train_and_round_trip(tmp_path, options):
    X, y = _cnn_rows(), np.arange(64) % 7
    model, history = train_network(X, y, X[:16], y[:16], 7, {**CNN, **options})
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    save_keras(model, tmp_path / "model.keras")
    proba = load_keras(tmp_path / "model.keras", "cnn").predict_proba(X[:5])
    np.testing.assert_allclose(proba, model(X[:5], training=False).numpy(), rtol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_weight_average_keeps_the_best_epochs_average_as_scored_on_validation():
    X, y = _cnn_rows(), np.arange(64) % 7
    params = {**CNN, "epochs": 3, "patience": 3, "ema_decay": 0.9, "schedule": "cosine"}
    model, history = train_network(X, y, X[:16], y[:16], 7, params)
    averaged = history["val_accuracy_averaged"]
    assert len(averaged) == 3
    kept = float(np.mean(model(X[:16], training=False).numpy().argmax(axis=1) == y[:16]))
    assert kept == pytest.approx(max(averaged))
    # The average is not the last step's weights: training the same way without it ends elsewhere.
    plain, _ = train_network(X, y, X[:16], y[:16], 7, {**params, "ema_decay": 0})
    assert not np.allclose(plain(X[:5], training=False).numpy(), model(X[:5], training=False).numpy())


def test_test_time_flip_averages_a_face_and_its_mirror_image():
    X, y = _cnn_rows(), np.arange(64) % 7
    model, _ = train_network(X, y, X[:16], y[:16], 7, {**CNN, "epochs": 1, "flip": True})
    both = rebuilt(model, tta_flip=True)
    image, rest = model._mirror(X[:4, :256].reshape(-1, 16, 16, 1), X[:4, 256:])
    mirrored = np.hstack([image.numpy().reshape(4, -1), rest.numpy()])
    expected = (model(X[:4]).numpy() + model(mirrored).numpy()) / 2
    np.testing.assert_allclose(both(X[:4]).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(both(mirrored).numpy(), expected, atol=1e-5)  # a face and its mirror agree


def test_feature_files_are_byte_identical_for_identical_arrays(tmp_path):
    arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "path": np.array(["a", "b", "c"])}
    save_arrays(tmp_path / "one.npz", arrays)
    save_arrays(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = load_arrays(tmp_path / "one.npz")
    np.testing.assert_array_equal(loaded["X"], arrays["X"])
    np.testing.assert_array_equal(loaded["path"], arrays["path"])

import numpy as np

from meshfer.config import load_arrays, save_arrays
from meshfer.networks import load_keras, save_keras, train_network


def test_one_epoch_trains_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((64, 16 * 16 + 10)).astype(np.float32)
    y = np.arange(64) % 7
    params = {"kind": "cnn", "seed": 0, "image_size": 16, "filters": [4, 8], "dense_units": 8, "dropout": 0.1,
              "block_dropout": 0.1, "shift": 0.05, "contrast": 0.1, "learning_rate": 1e-3, "patience": 2,
              "epochs": 1, "batch_size": 32}
    model, history = train_network(X, y, X[:16], y[:16], 7, params)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    save_keras(model, tmp_path)
    proba = load_keras(tmp_path, "cnn").predict_proba(X[:5])
    np.testing.assert_allclose(proba, model(X[:5], training=False).numpy(), rtol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_feature_files_are_byte_identical_for_identical_arrays(tmp_path):
    arrays = {"X": np.arange(12, dtype=np.float32).reshape(3, 4), "path": np.array(["a", "b", "c"])}
    save_arrays(tmp_path / "one.npz", arrays)
    save_arrays(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = load_arrays(tmp_path / "one.npz")
    np.testing.assert_array_equal(loaded["X"], arrays["X"])
    np.testing.assert_array_equal(loaded["path"], arrays["path"])

import numpy as np

from meshfer import mesh
from meshfer.gnn import adjacency, normalized_adjacency
from meshfer.networks import load_keras, save_keras, train_network


def test_adjacency_is_symmetric_over_all_nodes():
    a = adjacency(self_loops=False)
    assert a.shape == (478, 478)
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    # 1322 tessellation edges + 2 x 4 iris-ring edges, each stored in both directions
    assert a.nnz == 2 * len(mesh.tessellation_edges()) == 2 * 1330
    norm = normalized_adjacency()
    assert np.allclose(norm.toarray(), norm.toarray().T)


def test_one_epoch_trains_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 478, 2)).astype(np.float32)
    y = np.arange(64) % 7
    params = {"kind": "gnn", "seed": 0, "channels": [8], "conv": "gcn", "dropout": 0.1, "pooling": "flatten", "dense_units": 16,
              "l2": 1e-4, "learning_rate": 1e-3, "patience": 2, "epochs": 1, "batch_size": 32}
    model, history = train_network(X, y, X[:16], y[:16], 7, params)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    save_keras(model, tmp_path)
    reloaded = load_keras(tmp_path, "gnn")
    proba = reloaded.predict_proba(X[:5])
    assert proba.shape == (5, 7)
    np.testing.assert_allclose(proba, model(X[:5]).numpy(), rtol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)

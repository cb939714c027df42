"""Approach 2: a graph network over the face mesh (tf-keras + Spektral, mixed mode).

Every face shares the mesh topology, so one sparse, GCN-normalised adjacency matrix is built once from
``meshfer.mesh`` and held inside the model; a batch is just the node features (B, 478, F).
"""
from __future__ import annotations

import numpy as np

from meshfer import mesh
from meshfer.training.networks import network_class, rebuilt


def adjacency(self_loops: bool = True):
    """The symmetric (478, 478) adjacency of the tessellation as a scipy sparse matrix, optionally with I."""
    import scipy.sparse as sp

    edges = mesh.tessellation_edges()
    n = mesh.N_LANDMARKS
    ones = np.ones(len(edges), np.float32)
    a = sp.coo_matrix((ones, (edges[:, 0], edges[:, 1])), shape=(n, n))
    a = (a + a.T).tocsr()
    return a + sp.eye(n, dtype=np.float32, format="csr") if self_loops else a


def normalized_adjacency():
    """D^-1/2 (A + I) D^-1/2, Spektral's GCN filter."""
    from spektral.utils import gcn_filter

    return gcn_filter(adjacency(self_loops=False))


@network_class
def model_class(base):
    """The mesh graph network's registered tf-keras class."""
    from meshfer.training.networks import tensorflow

    tf = tensorflow()
    from spektral.layers import GCNConv, GCSConv
    from spektral.utils.sparse import sp_matrix_to_sp_tensor

    conv_layers = {"gcn": GCNConv, "gcs": GCSConv}

    class MeshGNN(base):
        """Graph convolutions over the mesh, then pooling and a dense softmax head.

        ``dense_adjacency`` holds the (478, 478) matrix dense instead of sparse: the same function, slower to
        train, but expressible in ONNX (onnxruntime has no sparse-dense matmul).
        """

        def __init__(self, n_classes: int, channels=(32, 32), conv="gcn", dropout=0.3, pooling="flatten",
                     dense_units=128, l2=1e-4, input_shape=(mesh.N_LANDMARKS, 3), dense_adjacency=False, **kwargs):
            super().__init__(**kwargs)
            self.config_ = dict(n_classes=n_classes, channels=list(channels), conv=conv, dropout=dropout,
                                pooling=pooling, dense_units=dense_units, l2=l2, input_shape=list(input_shape),
                                dense_adjacency=dense_adjacency)
            a = (normalized_adjacency() if conv == "gcn" else adjacency(self_loops=False)).astype(np.float32)
            self.a = tf.constant(a.toarray()) if dense_adjacency else sp_matrix_to_sp_tensor(a)
            reg = tf.keras.regularizers.l2(l2)
            # Per node and coordinate standardisation (fitted by adapt()): expressions are small displacements
            # of each landmark around its mean position, which raw coordinates bury under the face's shape.
            self.norm = tf.keras.layers.Normalization(axis=(1, 2))
            self.convs = [conv_layers[conv](c, activation="relu", kernel_regularizer=reg) for c in channels]
            self.drop = tf.keras.layers.Dropout(dropout)
            self.pool = {"flatten": tf.keras.layers.Flatten(),
                         "avg": tf.keras.layers.GlobalAveragePooling1D(),
                         "max": tf.keras.layers.GlobalMaxPooling1D()}[pooling]
            self.dense = tf.keras.layers.Dense(dense_units, activation="relu", kernel_regularizer=reg)
            self.out = tf.keras.layers.Dense(n_classes, activation="softmax")

        def call(self, x, training=False):
            x = self.norm(x)
            for conv in self.convs:
                x = conv([x, self.a])
            x = self.drop(self.pool(x), training=training)
            return self.out(self.drop(self.dense(x), training=training))

    return MeshGNN


def build_model(n_classes: int, X: np.ndarray, params: dict):
    """A fresh graph network for node features X (N, 478, F), its normalisation adapted to X."""
    model = model_class()(n_classes=n_classes, channels=params["channels"], conv=params["conv"],
                          dropout=params["dropout"], pooling=params["pooling"], dense_units=params["dense_units"],
                          l2=params["l2"], input_shape=list(X.shape[1:]))
    model.norm.adapt(X, batch_size=1024)
    return model


def export_twin(model):
    """The trained network with a dense adjacency: what the ONNX export converts."""
    return rebuilt(model, dense_adjacency=True)

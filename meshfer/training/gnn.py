"""Approach 2: a graph network over the face mesh (tf-keras + Spektral, mixed mode).

Every face shares the mesh topology, so one sparse, GCN-normalised adjacency matrix is built once from
``meshfer.mesh`` and held inside the model; a batch is just the node features (B, 478, F).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshfer import mesh
from meshfer.training.networks import network_class, network_config, rebuilt


@dataclass(frozen=True)
class MeshGNNConfig:
    """The mesh graph network's whole configuration: what params.yaml's ``gnn.model`` sets under the same names,
    and what the data gives (``n_classes``, ``input_shape``)."""

    n_classes: int
    channels: tuple[int, ...] = (32, 32)  # one graph convolution per entry, of that many channels
    conv: str = "gcn"  # gcn (Spektral's GCNConv on the normalised adjacency) | gcs (GCSConv)
    dropout: float = 0.3
    pooling: str = "flatten"  # flatten | avg | max, over the nodes
    dense_units: int = 128
    l2: float = 1e-4  # weight decay of the convolutions and the dense layer
    input_shape: tuple[int, ...] = (mesh.N_LANDMARKS, 3)  # a face: nodes x features
    # The (478, 478) adjacency held dense instead of sparse: the same function, slower to train, but expressible
    # in ONNX (onnxruntime has no sparse-dense matmul); see export_twin.
    dense_adjacency: bool = False


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
        """Graph convolutions over the mesh, then pooling and a dense softmax head."""

        Config = MeshGNNConfig

        def __init__(self, config: MeshGNNConfig, **kwargs):
            super().__init__(config, **kwargs)
            a = (normalized_adjacency() if config.conv == "gcn" else adjacency(self_loops=False)).astype(np.float32)
            self.a = tf.constant(a.toarray()) if config.dense_adjacency else sp_matrix_to_sp_tensor(a)
            reg = tf.keras.regularizers.l2(config.l2)
            # Per node and coordinate standardisation (fitted by adapt()): expressions are small displacements
            # of each landmark around its mean position, which raw coordinates bury under the face's shape.
            self.norm = tf.keras.layers.Normalization(axis=(1, 2))
            self.convs = [conv_layers[config.conv](c, activation="relu", kernel_regularizer=reg)
                          for c in config.channels]
            self.drop = tf.keras.layers.Dropout(config.dropout)
            self.pool = {"flatten": tf.keras.layers.Flatten(),
                         "avg": tf.keras.layers.GlobalAveragePooling1D(),
                         "max": tf.keras.layers.GlobalMaxPooling1D()}[config.pooling]
            self.dense = tf.keras.layers.Dense(config.dense_units, activation="relu", kernel_regularizer=reg)
            self.out = tf.keras.layers.Dense(config.n_classes, activation="softmax")

        def call(self, x, training=False):
            x = self.norm(x)
            for conv in self.convs:
                x = conv([x, self.a])
            x = self.drop(self.pool(x), training=training)
            return self.out(self.drop(self.dense(x), training=training))

    return MeshGNN


def build_model(n_classes: int, X: np.ndarray, params: dict):
    """A fresh graph network for node features X (N, 478, F), its normalisation adapted to X."""
    model = model_class()(network_config(MeshGNNConfig, params, n_classes=n_classes, input_shape=tuple(X.shape[1:])))
    model.norm.adapt(X, batch_size=1024)
    return model


def export_twin(model):
    """The trained network with a dense adjacency: what the ONNX export converts."""
    return rebuilt(model, dense_adjacency=True)

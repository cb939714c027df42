"""Approach 2: a graph network over the face mesh (tf-keras + Spektral, mixed mode).

Every face shares the mesh topology, so one sparse, GCN-normalised adjacency matrix is built once from
``meshfer.mesh`` and held inside the model; a batch is just the node features (B, 478, F).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

import meshfer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from meshfer import mesh

log = logging.getLogger(__name__)

assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "meshfer must be imported before TensorFlow"


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


def _build_model_class():
    import tensorflow as tf
    from spektral.layers import GCNConv, GCSConv, GraphSageConv  # noqa: F401
    from spektral.utils.sparse import sp_matrix_to_sp_tensor

    conv_layers = {"gcn": GCNConv, "gcs": GCSConv}

    @tf.keras.utils.register_keras_serializable(package="meshfer")
    class MeshGNN(tf.keras.Model):
        """Graph convolutions over the mesh, then pooling and a dense softmax head."""

        def __init__(self, n_classes: int, channels=(32, 32), conv="gcn", dropout=0.3, pooling="flatten",
                     dense_units=128, l2=1e-4, **kwargs):
            super().__init__(**kwargs)
            self.config_ = dict(n_classes=n_classes, channels=list(channels), conv=conv, dropout=dropout,
                                pooling=pooling, dense_units=dense_units, l2=l2)
            a = normalized_adjacency() if conv == "gcn" else adjacency(self_loops=False)
            self.a = sp_matrix_to_sp_tensor(a.astype(np.float32))
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

        def get_config(self):
            return dict(self.config_)

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    return MeshGNN


_MODEL_CLASS = None


def model_class():
    global _MODEL_CLASS
    if _MODEL_CLASS is None:
        _MODEL_CLASS = _build_model_class()
    return _MODEL_CLASS


def seed_everything(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_gnn(X, y, X_val, y_val, n_classes: int, params: dict, live_dir: Path | None = None):
    """Fit with early stopping on validation; returns the model and a history dict."""
    import tensorflow as tf

    seed_everything(params["seed"])
    model = model_class()(n_classes=n_classes, channels=params["channels"], conv=params["conv"],
                          dropout=params["dropout"], pooling=params["pooling"],
                          dense_units=params["dense_units"], l2=params["l2"])
    model.norm.adapt(X, batch_size=1024)
    model.compile(optimizer=tf.keras.optimizers.Adam(params["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=params["patience"],
                                                  restore_best_weights=True, mode="max")]
    if params.get("lr_patience"):
        callbacks.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                              patience=params["lr_patience"], min_lr=1e-5))
    if live_dir is not None:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        callbacks.append(DVCLiveCallback(live=Live(str(live_dir), save_dvc_exp=False, dvcyaml=None)))
    weights = None
    if params.get("class_weight") == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(float)
        weights = {i: len(y) / (n_classes * c) for i, c in enumerate(counts) if c > 0}
    history = model.fit(X, y, validation_data=(X_val, y_val), epochs=params["epochs"],
                        batch_size=params["batch_size"], callbacks=callbacks, class_weight=weights,
                        shuffle=True, verbose=2)
    return model, history.history


class KerasClassifier:
    """The sklearn-like face of a saved graph model: ``predict_proba`` on node-feature arrays."""

    def __init__(self, model):
        self.model = model
        self.classes_ = np.arange(model.config_["n_classes"])

    def predict_proba(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if len(X) <= batch_size:
            return self.model(X, training=False).numpy()  # avoids predict()'s per-call overhead for one face
        return self.model.predict(X, batch_size=batch_size, verbose=0)


def save_keras(model, directory: Path) -> None:
    """Save an uncompiled copy: serving needs no optimizer state, which would triple the file."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = model.__class__.from_config(model.get_config())
    fresh(np.zeros((1, mesh.N_LANDMARKS, int(model.norm.mean.shape[-1])), np.float32))  # builds the weights
    fresh.set_weights(model.get_weights())
    fresh.save(directory / "model.keras")


def load_keras(directory: Path) -> KerasClassifier:
    import tensorflow as tf

    model_class()  # registers the class for deserialisation
    model = tf.keras.models.load_model(directory / "model.keras", safe_mode=True, compile=False)
    return KerasClassifier(model)

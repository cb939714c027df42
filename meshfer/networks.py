"""What the Keras approaches share: seeding, the training loop, the sklearn-like wrapper, and safe storage.

Each network module (``models.NETWORKS``: ``meshfer.gnn``, ``meshfer.cnn``) provides ``model_class()`` (its
registered tf-keras model class) and ``build_model(n_classes, X, params)`` (a fresh model, adapted to X).
"""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import numpy as np

import meshfer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from meshfer.models import NETWORKS

log = logging.getLogger(__name__)

assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "meshfer must be imported before TensorFlow"


def network_module(kind: str):
    try:
        return importlib.import_module(NETWORKS[kind])
    except KeyError:
        raise ValueError(f"unknown network kind {kind!r}; known: {sorted(NETWORKS)}") from None


def seed_everything(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _callbacks(params: dict, live_dir: Path | None) -> list:
    import tensorflow as tf

    callbacks = [tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=params["patience"],
                                                  restore_best_weights=True, mode="max")]
    if params.get("lr_patience"):
        callbacks.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                              patience=params["lr_patience"], min_lr=1e-5))
    if live_dir is not None:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        callbacks.append(DVCLiveCallback(live=Live(str(live_dir), save_dvc_exp=False, dvcyaml=None)))
    return callbacks


def train_network(X, y, X_val, y_val, n_classes: int, params: dict, live_dir: Path | None = None):
    """Build the network ``params['kind']`` names and fit it with early stopping on validation accuracy
    (the best epoch's weights are kept); returns the model and its history dict."""
    import tensorflow as tf

    seed_everything(params["seed"])
    model = network_module(params["kind"]).build_model(n_classes, X, params)
    model.compile(optimizer=tf.keras.optimizers.Adam(params["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = None
    if params.get("class_weight") == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(float)
        weights = {i: len(y) / (n_classes * c) for i, c in enumerate(counts) if c > 0}
    history = model.fit(X, y, validation_data=(X_val, y_val), epochs=params["epochs"],
                        batch_size=params["batch_size"], callbacks=_callbacks(params, live_dir),
                        class_weight=weights, shuffle=True, verbose=2)
    return model, history.history


class KerasClassifier:
    """The sklearn-like face of a saved network: ``predict_proba`` on feature arrays."""

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
    fresh(np.zeros((1, *model.config_["input_shape"]), np.float32))  # builds the weights
    fresh.set_weights(model.get_weights())
    fresh.save(directory / "model.keras")


def load_keras(directory: Path, kind: str) -> KerasClassifier:
    """Load with Keras' safe mode (no Python code from the file); only meshfer's registered classes."""
    import tensorflow as tf

    network_module(kind).model_class()  # registers the class for deserialisation
    model = tf.keras.models.load_model(directory / "model.keras", safe_mode=True, compile=False)
    return KerasClassifier(model)

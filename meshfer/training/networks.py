"""The Keras framework (model kinds cnn and gnn; see meshfer.training.model_kinds): what the networks share:
seeding, the training loop, the sklearn-like wrapper, native storage, and the base of their model classes.

Each network module (the kind's ``model`` in model_kinds: ``meshfer.training.gnn``, ``meshfer.training.cnn``)
provides ``model_class()``
(its registered tf-keras model class, made with :func:`network_class`) and ``build_model(n_classes, X, params)``
(a fresh model, adapted to X); optionally ``export_twin(model)``, the same function in layers ONNX can express.
"""
from __future__ import annotations

import logging
import os
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import numpy as np

import meshfer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from meshfer.card import ModelLoadError
from meshfer.training.model_kinds import import_code

log = logging.getLogger(__name__)

assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "meshfer must be imported before TensorFlow"

FORMAT = KERAS_FILE = "model.keras"
LOGS_EPOCHS = True  # dvclive logs every epoch (see training_callbacks)


@lru_cache(maxsize=1)
def tensorflow():
    """TensorFlow, loaded once with its start-up lines (oneDNN, CUDA probing) kept off the terminal."""
    from meshfer.native import quiet_native_logs

    with quiet_native_logs():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe prints too
    return tf


def network_module(kind: str):
    """The module that defines the network of a model kind (``build_model``, ``model_class``)."""
    return import_code(kind, "model")


def network_config(config_class, params: dict, **derived):
    """A network's config object from the model's params: every field of ``config_class`` that params.yaml names
    (same key), then the ``derived`` ones (from the data: the number of classes, the input shape, ...)."""
    given = {f.name: params[f.name] for f in fields(config_class) if f.name in params}
    return config_class(**{**given, **derived})


def config_values(config) -> dict:
    """A config object as the model file keeps it: its fields, sequences as lists (JSON)."""
    return {f.name: list(v) if isinstance(v := getattr(config, f.name), (tuple, list)) else v
            for f in fields(config)}


@lru_cache(maxsize=1)
def _config_model_base():
    tf = tensorflow()

    class ConfigModel(tf.keras.Model):
        """A model whose one constructor argument, an instance of the class's ``Config`` (a frozen dataclass), is
        its whole configuration: saved as its fields and rebuilt from them."""

        Config: type

        def __init__(self, config, **kwargs):
            super().__init__(**kwargs)
            self.config_ = config

        def get_config(self):
            return config_values(self.config_)

        @classmethod
        def from_config(cls, config):
            return cls(cls.Config(**config))

    return ConfigModel


def network_class(define):
    """Decorate ``define(base) -> class``: the result is a cached ``model_class()`` that defines the class on first
    use, derived from a base that saves and rebuilds it from its config object, and registers it for safe loading.
    Deferred so that importing meshfer does not load TensorFlow."""

    @lru_cache(maxsize=1)
    def model_class():
        return tensorflow().keras.utils.register_keras_serializable(package="meshfer")(define(_config_model_base()))

    model_class.__doc__ = define.__doc__
    return model_class


def seed_everything(seed: int) -> None:
    tf = tensorflow()

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _weight_average(X_val, y_val, decay: float):
    """A callback keeping an exponential moving average of the weights (trainable ones and batch-norm statistics),
    updated after every step. After each epoch the average is scored on validation (``val_accuracy_averaged``);
    at the end the model keeps the average of its best epoch. The decay ramps up as in
    ``tf.train.ExponentialMovingAverage`` with ``num_updates``, so the first steps do not keep the random start."""
    tf = tensorflow()

    class WeightAverage(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.tracked, self.best_accuracy, self.best_weights = None, -1.0, None

        def _start(self):
            # On the first step's end: a subclassed model creates its weights in its first call.
            self.tracked = [v for v in self.model.weights
                            if v.dtype.is_floating and (v.trainable or "moving_" in v.name)]
            if not self.tracked:
                raise RuntimeError("the weight average found no weights to follow")
            self.average = [tf.Variable(v, trainable=False) for v in self.tracked]
            self.steps = tf.Variable(0.0, trainable=False)

        @tf.function
        def _update(self):
            self.steps.assign_add(1.0)
            rate = tf.minimum(decay, (1.0 + self.steps) / (10.0 + self.steps))
            for mean, value in zip(self.average, self.tracked):
                mean.assign(rate * mean + (1.0 - rate) * value)

        def on_train_batch_end(self, batch, logs=None):
            if self.tracked is None:
                self._start()
            self._update()

        def on_epoch_end(self, epoch, logs=None):
            current = [v.numpy() for v in self.tracked]
            self._assign([v.numpy() for v in self.average])
            accuracy = float(np.mean(_predict_rows(self.model, X_val).argmax(axis=1) == y_val))
            if accuracy > self.best_accuracy:
                self.best_accuracy, self.best_weights = accuracy, [v.numpy() for v in self.tracked]
            self._assign(current)
            if logs is not None:
                logs["val_accuracy_averaged"] = accuracy

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self._assign(self.best_weights)

        def _assign(self, values):
            for variable, value in zip(self.tracked, values):
                variable.assign(value)

    return WeightAverage()


def _predict_rows(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return np.concatenate([model(np.asarray(X[i:i + batch_size], np.float32), training=False).numpy()
                           for i in range(0, len(X), batch_size)])


def training_callbacks(params: dict, live_dir: Path | None, validation: tuple) -> list:
    """What watches a network's fit: early stopping on validation accuracy (of the averaged weights, with
    ``ema_decay``), the learning rate halved on plateaus (``lr_patience``), and dvclive's record in ``live_dir``."""
    tf = tensorflow()
    callbacks = []
    if params.get("ema_decay", 0) > 0:
        # The averaged weights are scored and kept (their best validation epoch); stopping follows them too.
        callbacks += [_weight_average(*validation, params["ema_decay"]),
                      tf.keras.callbacks.EarlyStopping(monitor="val_accuracy_averaged", patience=params["patience"],
                                                       mode="max")]
    else:
        # The weights of the best validation epoch are kept (a choice made on validation, never on test).
        callbacks.append(tf.keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=params["patience"],
                                                          restore_best_weights=True, mode="max"))
    if params.get("schedule", "plateau") == "plateau" and params.get("lr_patience"):
        callbacks.append(tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                              patience=params["lr_patience"], min_lr=1e-5))
    if live_dir is not None:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        callbacks += [_learning_rate_log(), DVCLiveCallback(live=Live(str(live_dir), save_dvc_exp=False, dvcyaml=None))]
    return callbacks


def _learning_rate_log():
    """A callback that puts the learning rate the epoch ended with into the epoch's logs (``lr``, as Keras'
    ReduceLROnPlateau does), so that dvclive records it for a schedule too; reads it, changes nothing."""
    tf = tensorflow()

    class LearningRateLog(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and "lr" not in logs:
                rate = self.model.optimizer.learning_rate
                if isinstance(rate, tf.keras.optimizers.schedules.LearningRateSchedule):
                    rate = rate(self.model.optimizer.iterations)
                logs["lr"] = float(tf.keras.backend.get_value(rate))

    return LearningRateLog()


def training_optimizer(params: dict, steps_per_epoch: int):
    """Adam with the learning rate halved on plateaus (``schedule: plateau``), or AdamW with a linear warm-up
    and a cosine decay to zero over all epochs (``schedule: cosine``), which ends on its own."""
    tf = tensorflow()
    if params.get("schedule", "plateau") == "plateau":
        return tf.keras.optimizers.Adam(params["learning_rate"])
    total = params["epochs"] * steps_per_epoch
    warmup = min(total // 2, params.get("warmup_epochs", 1) * steps_per_epoch)
    rate = tf.keras.optimizers.schedules.CosineDecay(params["learning_rate"] * 0.1, total - warmup, alpha=0.0,
                                                     warmup_target=params["learning_rate"], warmup_steps=warmup)
    return tf.keras.optimizers.AdamW(rate, weight_decay=params.get("weight_decay", 1e-4))


def _training_data(X, y, n_classes: int, params: dict):
    """Shuffled batches; one-hot targets where label smoothing or mixup needs them; mixup within each batch
    (inputs and targets mixed by the same Beta(alpha, alpha) weight, per sample)."""
    tf = tensorflow()
    soft = params.get("label_smoothing", 0) > 0 or params.get("mixup", 0) > 0
    targets = np.eye(n_classes, dtype=np.float32)[y] if soft else y
    data = tf.data.Dataset.from_tensor_slices((np.asarray(X, np.float32), targets))
    data = data.shuffle(len(X), seed=params["seed"], reshuffle_each_iteration=True).batch(params["batch_size"])
    alpha = params.get("mixup", 0)
    if alpha > 0:
        def mix(x, t):
            a = tf.random.gamma(tf.shape(x)[:1], alpha)
            b = tf.random.gamma(tf.shape(x)[:1], alpha)
            weight = (a / (a + b))[:, None]
            partner = tf.random.shuffle(tf.range(tf.shape(x)[0]))
            return (weight * x + (1 - weight) * tf.gather(x, partner),
                    weight * t + (1 - weight) * tf.gather(t, partner))

        data = data.map(mix)
    return data.prefetch(2), soft


def train_network(X, y, X_val, y_val, n_classes: int, params: dict, live_dir: Path | None = None):
    """Build the network ``params['kind']`` names and fit it, keeping the weights of the epoch with the best
    validation accuracy (with ``ema_decay``: the best epoch's moving average of the weights); returns the model and
    its history dict."""
    from meshfer.native import quiet_native_logs

    tf = tensorflow()
    seed_everything(params["seed"])
    with quiet_native_logs():  # tf.data's C++ side logs spurious errors on fd 2 (here: the normalisation's adapt)
        model = network_module(params["kind"]).build_model(n_classes, X, params)
    data, soft = _training_data(X, y, n_classes, params)
    if soft:
        loss = tf.keras.losses.CategoricalCrossentropy(label_smoothing=params.get("label_smoothing", 0.0))
        validation = (X_val, np.eye(n_classes, dtype=np.float32)[y_val])
        metrics = [tf.keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        loss, validation, metrics = "sparse_categorical_crossentropy", (X_val, y_val), ["accuracy"]
    model.compile(optimizer=training_optimizer(params, int(np.ceil(len(X) / params["batch_size"]))), loss=loss,
                  metrics=metrics)
    weights = None
    if params.get("class_weight") == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(float)
        weights = {i: len(y) / (n_classes * c) for i, c in enumerate(counts) if c > 0}
    with quiet_native_logs():  # the same while fitting; Keras reports on stdout
        history = model.fit(data, validation_data=validation, epochs=params["epochs"],
                            callbacks=training_callbacks(params, live_dir, (X_val, y_val)),
                            class_weight=weights, verbose=2)
    return model, history.history


class KerasClassifier:
    """The sklearn-like face of a trained network: ``predict_proba`` on feature arrays."""

    def __init__(self, model):
        self.model = model
        self.classes_ = np.arange(model.config_.n_classes)

    def predict_proba(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if len(X) <= batch_size:
            return self.model(X, training=False).numpy()  # avoids predict()'s per-call overhead for one face
        from meshfer.native import quiet_native_logs

        with quiet_native_logs():  # predict() goes through tf.data, whose C++ side logs spurious errors
            return self.model.predict(X, batch_size=batch_size, verbose=0)


def rebuilt(model, **changes):
    """A fresh instance of ``model``'s class from its config (with ``changes``), built and given its weights."""
    fresh = model.__class__.from_config({**model.get_config(), **changes})
    fresh(np.zeros((1, *model.config_.input_shape), np.float32))  # builds the weights
    fresh.set_weights(model.get_weights())
    return fresh


def save_keras(model, path: Path) -> None:
    """Save an uncompiled copy: nothing needs the optimizer state, which would triple the file."""
    rebuilt(model).save(path)


def load_keras(path: Path, kind: str) -> KerasClassifier:
    """Load with Keras' safe mode (no Python code from the file); only meshfer's class of that kind."""
    tf = tensorflow()

    network_module(kind).model_class()  # registers the class for deserialisation
    return KerasClassifier(tf.keras.models.load_model(path, safe_mode=True, compile=False))


def fit_model(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, n_labels: int, params: dict,
              live_dir: Path | None = None) -> tuple[KerasClassifier, dict]:
    """The framework's fit (see meshfer.training.model_kinds): the network and its number of epochs."""
    network, history = train_network(X, y, X_val, y_val, n_labels, params, live_dir=live_dir)
    return KerasClassifier(network), {"epochs": len(history["loss"])}


def save_model(estimator: KerasClassifier, directory: Path) -> None:
    save_keras(estimator.model, directory / KERAS_FILE)


def load_model(directory: Path, kind: str) -> KerasClassifier:
    path = directory / KERAS_FILE
    if not path.is_file():
        raise ModelLoadError(f"no model file at {path}")
    try:
        return load_keras(path, kind)
    except Exception as err:
        raise ModelLoadError(f"{path} could not be loaded ({type(err).__name__}: {err})") from None

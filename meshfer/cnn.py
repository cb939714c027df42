"""Approach 5: a small CNN on the mesh-aligned gray face crop, fused with the mesh features (two branches,
late fusion inside one network). Input rows are ``features.aligned_face``: the flattened crop, then the mesh.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import meshfer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def _build_model_class():
    import tensorflow as tf

    layers = tf.keras.layers

    @tf.keras.utils.register_keras_serializable(package="meshfer")
    class AlignedFaceCNN(tf.keras.Model):
        """Conv blocks over the crop; a dense branch over the standardised mesh features; a joint head."""

        def __init__(self, n_classes: int, image_size=48, filters=(16, 32, 64), dense_units=256, dropout=0.5,
                     block_dropout=0.25, shift=0.06, contrast=0.2, seed=0, input_shape=(48 * 48 + 1008,),
                     **kwargs):
            super().__init__(**kwargs)
            self.config_ = dict(n_classes=n_classes, image_size=image_size, filters=list(filters),
                                dense_units=dense_units, dropout=dropout, block_dropout=block_dropout, shift=shift,
                                contrast=contrast, seed=seed, input_shape=list(input_shape))
            self.pixels = image_size * image_size
            # Pixel-only augmentation while training: small shifts and contrast changes leave the mesh branch's
            # geometry true (flips and distortions already came from the augment stage, on image and mesh alike).
            self.augment = [layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed),
                            layers.RandomContrast(contrast, seed=seed + 1)]
            self.blocks = []
            for width in filters:
                for _ in range(2):
                    self.blocks += [layers.Conv2D(width, 3, padding="same", use_bias=False),
                                    layers.BatchNormalization(), layers.ReLU()]
                self.blocks += [layers.MaxPooling2D(), layers.Dropout(block_dropout)]
            self.flatten = layers.Flatten()
            self.image_dense = layers.Dense(dense_units, activation="relu")
            self.mesh_norm = layers.Normalization()
            self.mesh_dense = layers.Dense(dense_units, activation="relu")
            self.joint = layers.Dense(dense_units, activation="relu")
            self.drop = layers.Dropout(dropout)
            self.out = layers.Dense(n_classes, activation="softmax")

        def call(self, x, training=False):
            size = self.config_["image_size"]
            image = tf.reshape(x[:, :self.pixels], (-1, size, size, 1))
            if training:
                for layer in self.augment:
                    image = layer(image, training=True)
            for layer in self.blocks:
                image = layer(image, training=training)
            image = self.drop(self.image_dense(self.flatten(image)), training=training)
            mesh = self.drop(self.mesh_dense(self.mesh_norm(x[:, self.pixels:])), training=training)
            joint = self.drop(self.joint(tf.concat([image, mesh], axis=1)), training=training)
            return self.out(joint)

        def get_config(self):
            return dict(self.config_)

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    return AlignedFaceCNN


@lru_cache(maxsize=1)
def model_class():
    """The registered model class (built on first use, so importing meshfer does not load TensorFlow)."""
    return _build_model_class()


def build_model(n_classes: int, X: np.ndarray, params: dict):
    """A fresh network for ``aligned_face`` rows X, its mesh standardisation adapted to X."""
    size = params["image_size"]
    model = model_class()(n_classes=n_classes, image_size=size, filters=params["filters"],
                          dense_units=params["dense_units"], dropout=params["dropout"],
                          block_dropout=params["block_dropout"], shift=params["shift"], contrast=params["contrast"],
                          seed=params["seed"], input_shape=list(X.shape[1:]))
    model.mesh_norm.adapt(X[:, size * size:], batch_size=1024)
    return model

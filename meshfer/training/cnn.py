"""Approach 5: a small CNN on the mesh-aligned gray face crop, fused with the mesh features (two branches,
late fusion inside one network). Input rows are ``features.aligned_face``: the flattened crop, then the mesh.

Training-time augmentation lives in the network (active only when training): small shifts, contrast, random
erasing of a patch, and mirroring. A mirrored crop is exact (the crop is symmetric about its vertical midline by
construction); the mesh branch's features are mirrored with it by a fixed column permutation and sign flip
(:func:`aligned_mesh_mirror`, below). With ``tta_flip`` the served network averages a face and its mirror image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshfer import mesh
from meshfer.training.networks import network_class, network_config


@dataclass(frozen=True)
class AlignedCNNConfig:
    """The aligned-face network's whole configuration: what params.yaml's ``aligned_cnn.model`` sets under the same
    names, and what the data gives (``n_classes``, ``input_shape``, the mirror of the mesh columns)."""

    n_classes: int
    image_size: int = 48  # the crop's side in pixels (the features' ``crop_px``)
    filters: tuple[int, ...] = (16, 32, 64)  # conv block widths; two 3x3 convs per block, then max-pooling
    dense_units: int = 256  # each branch's dense layer and the joint one
    dropout: float = 0.5  # after the dense layers
    block_dropout: float = 0.25  # after each conv block
    shift: float = 0.06  # random translation, a fraction of the side (training only)
    contrast: float = 0.2  # random contrast factor (training only)
    flip: bool = False  # mirror half the training faces, crop and mesh together
    erase: float = 0.0  # probability of random erasing per training face
    tta_flip: bool = False  # the served network averages a face and its mirror image
    mirror_order: tuple[int, ...] = ()  # a mirrored mesh row = row[mirror_order] * mirror_signs
    mirror_signs: tuple[float, ...] = ()
    seed: int = 0  # the augmentation layers' seeds
    input_shape: tuple[int, ...] = (48 * 48 + 1008,)  # a row: the crop's pixels, then the mesh features


@network_class
def model_class(base):
    """The aligned-face network's registered tf-keras class."""
    from meshfer.training.networks import tensorflow

    tf = tensorflow()
    layers = tf.keras.layers

    class AlignedFaceCNN(base):
        """Conv blocks over the crop; a dense branch over the standardised mesh features; a joint head."""

        Config = AlignedCNNConfig

        def __init__(self, config: AlignedCNNConfig, **kwargs):
            super().__init__(config, **kwargs)
            size, seed, width = config.image_size, config.seed, config.dense_units
            self.pixels = size * size
            self.augment = [layers.RandomTranslation(config.shift, config.shift, fill_mode="nearest", seed=seed),
                            layers.RandomContrast(config.contrast, seed=seed + 1)]
            self.blocks = []
            for filters in config.filters:
                for _ in range(2):
                    self.blocks += [layers.Conv2D(filters, 3, padding="same", use_bias=False),
                                    layers.BatchNormalization(), layers.ReLU()]
                self.blocks += [layers.MaxPooling2D(), layers.Dropout(config.block_dropout)]
            self.flatten = layers.Flatten()
            self.image_dense = layers.Dense(width, activation="relu")
            self.mesh_norm = layers.Normalization()
            self.mesh_dense = layers.Dense(width, activation="relu")
            self.joint = layers.Dense(width, activation="relu")
            self.drop = layers.Dropout(config.dropout)
            self.out = layers.Dense(config.n_classes, activation="softmax")

        def call(self, x, training=False):
            size = self.config_.image_size
            image = tf.reshape(x[:, :self.pixels], (-1, size, size, 1))
            mesh = x[:, self.pixels:]
            if training:
                image, mesh = self._augment(image, mesh)
            out = self._forward(image, mesh, training)
            if self.config_.tta_flip and not training:
                out = (out + self._forward(*self._mirror(image, mesh), training)) / 2
            return out

        def _forward(self, image, mesh, training):
            for layer in self.blocks:
                image = layer(image, training=training)
            image = self.drop(self.image_dense(self.flatten(image)), training=training)
            mesh = self.drop(self.mesh_dense(self.mesh_norm(mesh)), training=training)
            joint = self.drop(self.joint(tf.concat([image, mesh], axis=1)), training=training)
            return self.out(joint)

        def _mirror(self, image, mesh):
            order = tf.constant(self.config_.mirror_order, tf.int32)
            signs = tf.constant(self.config_.mirror_signs, tf.float32)
            return tf.reverse(image, axis=[2]), tf.gather(mesh, order, axis=1) * signs

        def _augment(self, image, mesh):
            if self.config_.flip:
                flipped_image, flipped_mesh = self._mirror(image, mesh)
                chosen = tf.random.uniform(tf.shape(image)[:1]) < 0.5
                image = tf.where(chosen[:, None, None, None], flipped_image, image)
                mesh = tf.where(chosen[:, None], flipped_mesh, mesh)
            for layer in self.augment:
                image = layer(image, training=True)
            if self.config_.erase > 0:
                image = _erase(image, self.config_.erase)
            return image, mesh

    def _erase(image, probability: float):
        """Random erasing: with the given probability per image, a rectangle of 2-25 % of the area (aspect
        0.3-3.3) is replaced by uniform noise."""
        batch, size = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.cast(size, tf.float32)
        area = tf.random.uniform([batch], 0.02, 0.25) * side * side
        aspect = tf.exp(tf.random.uniform([batch], np.log(0.3), np.log(3.3)))
        height, width = tf.sqrt(area * aspect), tf.sqrt(area / aspect)
        centre_y, centre_x = tf.random.uniform([batch], 0, side), tf.random.uniform([batch], 0, side)
        grid = tf.range(side)
        inside = ((tf.abs(grid[None, :, None] - centre_y[:, None, None]) < height[:, None, None] / 2)
                  & (tf.abs(grid[None, None, :] - centre_x[:, None, None]) < width[:, None, None] / 2)
                  & (tf.random.uniform([batch])[:, None, None] < probability))
        return tf.where(inside[..., None], tf.random.uniform(tf.shape(image)), image)

    return AlignedFaceCNN


def build_model(n_classes: int, X: np.ndarray, params: dict):
    """A fresh network for ``aligned_face`` rows X, its mesh standardisation adapted to X."""
    size = params["image_size"]
    mesh_columns = X[:, size * size:]
    mirror = params.get("flip") or params.get("tta_flip")
    order, signs = aligned_mesh_mirror(mesh_columns) if mirror else ((), ())
    config = network_config(AlignedCNNConfig, params, n_classes=n_classes, input_shape=tuple(X.shape[1:]),
                            mirror_order=tuple(int(i) for i in order), mirror_signs=tuple(float(v) for v in signs))
    model = model_class()(config)
    model.mesh_norm.adapt(mesh_columns, batch_size=1024)
    return model


# --- mirroring the mesh features with the crop ------------------------------------------------------------------
def mirror_permutation(shape: np.ndarray) -> np.ndarray:
    """perm[i] = the landmark that lies where landmark i's mirror image lies, for a centred, levelled (478, 2)
    face shape."""
    from scipy.optimize import linear_sum_assignment

    shape = shape - shape.mean(axis=0)
    mirrored = shape * [-1.0, 1.0]
    cost = np.linalg.norm(shape[:, None] - mirrored[None], axis=2)
    _, perm = linear_sum_assignment(cost)
    if not (perm[perm] == np.arange(len(perm))).all():
        raise RuntimeError("the derived mirror permutation is not an involution")
    return perm


def blendshape_permutation() -> np.ndarray:
    """eyeBlinkLeft <-> eyeBlinkRight and so on; unsided blendshapes stay."""
    names = list(mesh.BLENDSHAPE_NAMES)

    def partner(name: str) -> str:
        for side, other in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(side):
                return name[: -len(side)] + other
        return name

    return np.array([names.index(partner(name)) for name in names])


def aligned_mesh_mirror(X_mesh: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """For ``aligned_mesh`` rows (478 * dims levelled coordinates, then 52 blendshapes): the column order and the
    signs that mirror a row: ``mirrored = row[order] * signs``."""
    coords = X_mesh[:, : mesh.N_LANDMARKS * dims].reshape(len(X_mesh), mesh.N_LANDMARKS, dims)
    perm = mirror_permutation(np.median(coords[..., :2], axis=0))
    columns = (perm[:, None] * dims + np.arange(dims)).ravel()
    signs = np.tile([-1.0] + [1.0] * (dims - 1), mesh.N_LANDMARKS)
    order = np.concatenate([columns, mesh.N_LANDMARKS * dims + blendshape_permutation()])
    return order, np.concatenate([signs, np.ones(len(mesh.BLENDSHAPE_NAMES))])

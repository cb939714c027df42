"""A small network on the eye patches: does it beat the served eye model (PCA of the patch + mesh measures, SVM)?

Issue 23 left this untried. Same inputs as the served model (data/features/eyes.npz: per eye, the 24x14 patch of
an eye-aligned 64 px crop, the right eye mirrored, then the lid, iris and blendshape measures), one sample per eye,
a face averaging its eyes, as served. The network: two 3x3 convolution blocks on the patch (random shifts of up to
2 px while training), the measures standardised beside it, one hidden layer. The epoch is chosen on clean
validation (the best epoch's weights kept), over several seeds, each reported; the served recipe is re-fitted from
params.yaml on the same table; also the seeds averaged, and that average soft-voted with the served model. Scored
on validation and test, all faces and per source, no face = wrong.

Run after `dvc repro features@eyes`: python -m bench.finished.eyes_cnn   (one thread, about 10 minutes; writes
bench/results/eyes_cnn.json)
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bench.common import EYE_LABELS, eye_scores_by_source, write_result
from bench.finished.shared import EYE_SMOKE_PER_LABEL, arguments, smaller, smoke_section
from meshfer.native import quiet_native_logs
from meshfer.training.config import load_params
from meshfer.training.feature_table import FeatureTable
from meshfer.training.held_out import source_of
from meshfer.training.networks import seed_everything, tensorflow
from meshfer.training.fitting import fit
from meshfer.training.scoring import decide, predict_proba_images

SEEDS = (0, 1, 2)
EPOCHS, BATCH = 120, 64
SPLITS = ("validation", "test")


def per_eye(X: np.ndarray, patch: dict) -> tuple[np.ndarray, np.ndarray]:
    """Face rows (left eye's features, then the right's) -> per-eye patches (2N, h, w, 1) and measures (2N, k)."""
    eyes = np.concatenate(np.split(np.asarray(X, np.float32), 2, axis=1))  # left eyes, then right eyes
    pixels = patch["width_px"] * patch["height_px"]
    return eyes[:, :pixels].reshape(-1, patch["height_px"], patch["width_px"], 1), eyes[:, pixels:]


def network(image_shape: tuple, measures: np.ndarray, n_classes: int):
    layers = tensorflow().keras.layers
    image_in, measures_in = layers.Input(image_shape), layers.Input(measures.shape[1:])
    x = layers.RandomTranslation(2 / image_shape[0], 2 / image_shape[1], fill_mode="nearest")(image_in)
    for filters in (16, 32):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dense(64, activation="relu")(layers.Dropout(0.3)(layers.Flatten()(x)))
    norm = layers.Normalization()
    norm.adapt(measures)
    m = layers.Dense(32, activation="relu")(norm(measures_in))
    joint = layers.Dropout(0.3)(layers.Concatenate()([x, m]))
    out = layers.Dense(n_classes, activation="softmax")(layers.Dense(64, activation="relu")(joint))
    return tensorflow().keras.Model([image_in, measures_in], out)


def face_proba(model, X: np.ndarray, patch: dict) -> np.ndarray:
    images, measures = per_eye(X, patch)
    proba = model([images, measures], training=False).numpy()  # predict() goes through tf.data, which logs noise
    return np.stack(np.split(proba, 2), axis=1).mean(axis=1)


def train(table: dict, patch: dict, seed: int, epochs: int = EPOCHS):
    tf = tensorflow()
    seed_everything(seed)
    found = table.found
    train_rows, val_rows = (table.rows(split)[found] for split in ("train", "validation"))
    images, measures = per_eye(table.X[train_rows], patch)
    y = np.tile(table.y[found][train_rows], 2)
    with quiet_native_logs():  # the normalisation's adapt() too
        model = network(images.shape[1:], measures, len(EYE_LABELS))
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    y_val = table.y[found][val_rows]

    class FaceAccuracy(tf.keras.callbacks.Callback):  # validation as served: a face averages its two eyes
        def on_epoch_end(self, epoch, logs=None):
            logs["val_face_accuracy"] = float(np.mean(
                face_proba(self.model, table.X[val_rows], patch).argmax(axis=1) == y_val))

    stop = tf.keras.callbacks.EarlyStopping(monitor="val_face_accuracy", mode="max", patience=30,
                                            restore_best_weights=True)
    with quiet_native_logs():  # fit() goes through tf.data, whose C++ side logs spurious errors
        history = model.fit([images, measures], y, batch_size=BATCH, epochs=epochs, verbose=0,
                            callbacks=[FaceAccuracy(), stop])
    return model, int(np.argmax(history.history["val_face_accuracy"])) + 1


class FaceNetwork:
    """The network as ``predict_proba_images`` takes a model: label names on a card, probabilities per face row."""

    def __init__(self, model, patch: dict):
        self.model, self.patch, self.card = model, patch, SimpleNamespace(labels=EYE_LABELS)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return face_proba(self.model, X, self.patch)


def scored(table: dict, proba: dict[str, np.ndarray]) -> dict:
    """``proba``: split -> per-image probabilities."""
    out = {}
    for split in SPLITS:
        mask = table.rows(split, with_face=False)
        sources = np.array([source_of(p) for p in table.path[mask]])
        out[split] = eye_scores_by_source(table.y[mask], decide(proba[split]), sources)
    return out


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    tensorflow().config.threading.set_intra_op_parallelism_threads(1)
    tensorflow().config.threading.set_inter_op_parallelism_threads(1)
    params = load_params(run.project / "params.yaml")["eyes"]
    patch = params["features"]["patch"]
    table = FeatureTable.load(run.project / "data" / "features" / "eyes.npz")
    seeds, epochs = (SEEDS[:1], 2) if run.smoke else (SEEDS, EPOCHS)
    if run.smoke:
        table, params = smaller(table, EYE_SMOKE_PER_LABEL), smoke_section(params)
    served, _ = fit(table, "eyes", params, "eyes")
    served_proba = {split: predict_proba_images(served, table, split) for split in SPLITS}
    results = {"served recipe (params.yaml)": scored(table, served_proba)}
    networks = []
    for seed in seeds:
        model, epoch = train(table, patch, seed, epochs)
        networks.append({split: predict_proba_images(FaceNetwork(model, patch), table, split) for split in SPLITS})
        results[f"eye-patch network, seed {seed} (best epoch {epoch})"] = scored(table, networks[-1])
    seeds_mean = {split: np.mean([n[split] for n in networks], axis=0) for split in SPLITS}
    results[f"eye-patch network, mean of the {len(seeds)} seeds"] = scored(table, seeds_mean)
    results["served + the networks' mean, soft vote 1:1"] = scored(
        table, {split: (served_proba[split] + seeds_mean[split]) / 2 for split in SPLITS})
    for name, figures in results.items():
        print(name, {split: (figures[split]["all"]["accuracy"], figures[split]["all"]["mae_steps"])
                     for split in SPLITS}, flush=True)
    write_result("eyes_cnn", {"command": "python -m bench.finished.eyes_cnn", "epochs_max": epochs, "results": results},
                 run.results)


if __name__ == "__main__":
    main()

"""Distil the served network: the same aligned network trained on a stronger teacher's soft labels, measured.

Issue 24, step 4. Teacher: the package's `aligned_cnn` (its ONNX file) averaged over each face and its mirror image
(the mesh mirrored with the crop), soft-voted with the package's `mesh_hgb`; the network's share in the vote and a
temperature are chosen on clean validation (the share by accuracy, the temperature by log-loss). Student: a fresh
`aligned_cnn` with params.yaml's recipe unchanged (50 epochs, cosine, AdamW, label smoothing, flips, EMA) except its
targets on the training split: half the one-hot label, half the teacher. Scored with the served baseline (the
package's `aligned_cnn`) and the teacher on clean validation, test and test_unseen; no face = wrong.

The pipeline's network trains for 70-95 minutes on 2 cores; with a teacher and a student in `dvc repro` it would
train twice. Run after `dvc repro features@aligned_cnn features@mesh_hgb`:
``python -m bench.finished.distil_cnn`` (70-95 minutes on 2 cores; writes bench/results/distil_cnn.json). With
``--label-share 1 --seed 1`` the student learns from the labels alone with another seed: the recipe's spread from
seed to seed, and (averaged with the served network) what serving two networks would give (writes
bench/results/distil_cnn_labels1_seed1.json).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from bench.common import ROOT, write_result
from bench.finished.shared import arguments, image_accuracy, smaller
from meshfer.native import quiet_native_logs
from meshfer.runtime import load_model
from meshfer.training.config import load_params
from meshfer.training.feature_table import TEST_WITHOUT_NEAR_COPIES, FeatureTable
from meshfer.training.cnn import aligned_mesh_mirror
from meshfer.training.networks import (KerasClassifier, network_module, seed_everything, tensorflow,
                                       training_callbacks, training_optimizer)
from meshfer.training.fitting import model_params_of

SPLITS = ("validation", "test", TEST_WITHOUT_NEAR_COPIES)
NETWORK_SHARES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)  # the network's weight in the teacher's soft vote with mesh_hgb
TEMPERATURES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
LABEL_SHARE = 0.5  # of the student's target; the teacher gives the rest
MODELS = ROOT / "meshfer" / "assets" / "models"


def mirrored_rows(X: np.ndarray, image_size: int) -> np.ndarray:
    """Rows of aligned_face features (crop pixels, then the aligned mesh) with the face mirrored."""
    pixels = image_size * image_size
    image = X[:, :pixels].reshape(-1, image_size, image_size)[:, :, ::-1].reshape(len(X), pixels)
    order, signs = aligned_mesh_mirror(X[:, pixels:])
    return np.concatenate([image, X[:, pixels:][:, order] * signs], axis=1).astype(np.float32)


def predicted(model, X: np.ndarray, chunks: int = 32) -> np.ndarray:
    return np.concatenate([model.predict_proba(chunk) for chunk in np.array_split(X, chunks)])


def sharpened(proba: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(proba, 1e-7, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def choose_teacher(network: np.ndarray, mesh: np.ndarray, y: np.ndarray, val: np.ndarray) -> tuple[dict, list]:
    """The share by validation accuracy (ties: more network), then the temperature by validation log-loss."""
    tried = [{"network_share": share, "val_accuracy": round(float(np.mean(
        (share * network[val] + (1 - share) * mesh[val]).argmax(axis=1) == y[val])), 4)} for share in NETWORK_SHARES]
    best = max(tried, key=lambda row: (row["val_accuracy"], row["network_share"]))
    vote = best["network_share"] * network + (1 - best["network_share"]) * mesh
    losses = {t: float(-np.mean(np.log(np.clip(sharpened(vote[val], t)[np.arange(val.sum()), y[val]], 1e-7, 1))))
              for t in TEMPERATURES}
    return {**best, "temperature": min(losses, key=losses.get),
            "val_log_loss": {str(t): round(v, 4) for t, v in losses.items()}}, tried


def train_student(X, targets, X_val, y_val, params: dict):
    """params.yaml's network recipe on soft targets (the pipeline's ``train_network`` takes integer labels)."""
    tf = tensorflow()
    seed_everything(params["seed"])
    with quiet_native_logs():
        model = network_module(params["kind"]).build_model(targets.shape[1], X, params)
    data = tf.data.Dataset.from_tensor_slices((X, targets.astype(np.float32)))
    data = data.shuffle(len(X), seed=params["seed"], reshuffle_each_iteration=True).batch(params["batch_size"])
    model.compile(optimizer=training_optimizer(params, int(np.ceil(len(X) / params["batch_size"]))),
                  loss=tf.keras.losses.CategoricalCrossentropy(label_smoothing=params.get("label_smoothing", 0.0)),
                  metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
    validation = (X_val, np.eye(targets.shape[1], dtype=np.float32)[y_val])
    with quiet_native_logs():
        history = model.fit(data.prefetch(2), validation_data=validation, epochs=params["epochs"],
                            callbacks=training_callbacks(params, None, (X_val, y_val)), verbose=2)
    return KerasClassifier(model), history.history


def options(parser) -> None:
    parser.add_argument("--label-share", type=float, default=LABEL_SHARE,
                        help="of the student's target (default %(default)s); 1: the recipe on the labels alone")
    parser.add_argument("--seed", type=int, help="the student's seed (default: params.yaml's)")


def main(argv: list[str] | None = None) -> None:
    args, run = arguments(__doc__, argv, options)
    if not 0.0 <= args.label_share <= 1.0:
        raise SystemExit("--label-share must be between 0 and 1")
    params = model_params_of(load_params(run.project / "params.yaml")["aligned_cnn"])
    if run.smoke:
        params["epochs"] = 1
    default_seed = params["seed"]
    params["seed"] = default_seed if args.seed is None else args.seed
    faces = FeatureTable.load(run.project / "data" / "features" / "aligned_cnn.npz")
    mesh = FeatureTable.load(run.project / "data" / "features" / "mesh_hgb.npz")
    if run.smoke:
        faces, mesh = smaller(faces), smaller(mesh)
    if not np.array_equal(mesh.path, faces.path) or not np.array_equal(mesh.found, faces.found):
        raise SystemExit("the two feature files list different images: run `dvc repro` first")
    X = faces.X.astype(np.float32)
    served = load_model(MODELS / "aligned_cnn", threads=2)
    network_alone = predicted(served, X)
    network = (network_alone + predicted(served, mirrored_rows(X, params["image_size"]))) / 2
    hgb = predicted(load_model(MODELS / "mesh_hgb", threads=2), mesh.X)
    y = faces.y[faces.found]
    train, val = (faces.rows(split)[faces.found] for split in ("train", "validation"))
    choice, tried = choose_teacher(network, hgb, y, val)
    teacher = sharpened(choice["network_share"] * network + (1 - choice["network_share"]) * hgb,
                        choice["temperature"])
    print("teacher:", choice, flush=True)
    one_hot = np.eye(teacher.shape[1], dtype=np.float32)[y]
    targets = args.label_share * one_hot[train] + (1 - args.label_share) * teacher[train]
    start = time.perf_counter()
    student, history = train_student(X[train], targets, X[val], y[val], params)
    minutes = (time.perf_counter() - start) / 60
    results = {"served aligned_cnn (baseline)": network_alone, "teacher": teacher, "student": predicted(student, X)}
    if args.label_share == 1.0:  # a second seed of the served recipe: what serving two networks would give
        results["student and the served network averaged"] = (results["student"] + network_alone) / 2
    accuracies = {name: {split: image_accuracy(faces, proba, split) for split in SPLITS}
                  for name, proba in results.items()}
    accuracies["teacher"]["train (found faces, augmented copies included)"] = round(float(np.mean(
        teacher[train].argmax(axis=1) == y[train])), 4)
    print(accuracies, flush=True)
    default = args.label_share == LABEL_SHARE and params["seed"] == default_seed
    write_result("distil_cnn" if default else f"distil_cnn_labels{args.label_share:g}_seed{params['seed']}", {
        "command": " ".join(["python -m bench.finished.distil_cnn", *(sys.argv[1:] if argv is None else argv)]),
        "baseline_card_sha256": served.card.file_sha256,
        "teacher": choice, "teacher_shares_tried": tried, "label_share": args.label_share, "recipe": params,
        "student_minutes": round(minutes, 1), "accuracy": accuracies,
        "student_val_accuracy_averaged_per_epoch": [round(v, 4) for v in history["val_accuracy_averaged"]]},
        run.results)


if __name__ == "__main__":
    main()

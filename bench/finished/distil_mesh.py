"""Can a landmark-only model learn from the aligned network? Distillation into a mesh student, measured.

Teacher: the package's `aligned_cnn` (its ONNX file) on every training image of `data/features/aligned_cnn.npz`
(the augmented copies included, as the students see them). Students: the same small MLP on `mesh_svm`'s features
(the aligned mesh + blendshapes), trained on the hard labels, on half hard / half the teacher's probabilities,
and on the teacher's probabilities alone. Scored on clean validation (what would choose), test and test_unseen; no
face = wrong. One thread: `python -m bench.finished.distil_mesh` (about 15 minutes; writes
bench/results/distil_mesh.json).
"""
from __future__ import annotations

import numpy as np

from bench.common import ROOT, write_result
from bench.finished.shared import arguments, image_accuracy, smaller
from meshfer.runtime import load_model
from meshfer.training.feature_table import TEST_WITHOUT_NEAR_COPIES, FeatureTable
from meshfer.training.networks import seed_everything, tensorflow

SPLITS = ("validation", "test", TEST_WITHOUT_NEAR_COPIES)
TEACHER_SHARES = {"hard labels": 0.0, "half teacher": 0.5, "teacher only": 1.0}
EPOCHS, BATCH = 40, 256


def student(n_inputs: int, n_classes: int):
    layers = tensorflow().keras.layers
    return tensorflow().keras.Sequential([
        layers.Input((n_inputs,)), layers.Dropout(0.2), layers.Dense(512, activation="relu"), layers.Dropout(0.4),
        layers.Dense(256, activation="relu"), layers.Dropout(0.4), layers.Dense(n_classes, activation="softmax")])


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    epochs = 1 if run.smoke else EPOCHS
    tf = tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    mesh = FeatureTable.load(run.project / "data" / "features" / "mesh_svm.npz")
    faces = FeatureTable.load(run.project / "data" / "features" / "aligned_cnn.npz")
    if run.smoke:
        mesh, faces = smaller(mesh), smaller(faces)
    if not np.array_equal(mesh.path, faces.path):
        raise SystemExit("the two feature files list different images: run `dvc repro` first")
    teacher = load_model(ROOT / "meshfer" / "assets" / "models" / "aligned_cnn")
    taught = np.concatenate([teacher.predict_proba(chunk) for chunk in np.array_split(faces.X, 16)])
    train = mesh.rows("train")[mesh.found]
    mean, std = mesh.X[train].mean(axis=0), mesh.X[train].std(axis=0) + 1e-6
    X = ((mesh.X - mean) / std).astype(np.float32)
    hard = np.eye(taught.shape[1], dtype=np.float32)[mesh.y[mesh.found]]
    results = {"teacher (aligned_cnn)": {split: image_accuracy(mesh, taught, split) for split in SPLITS}}
    for name, share in TEACHER_SHARES.items():
        seed_everything(0)
        model = student(X.shape[1], taught.shape[1])
        steps = int(np.ceil(train.sum() / BATCH)) * epochs
        rate = tf.keras.optimizers.schedules.CosineDecay(1e-3, steps)
        model.compile(tf.keras.optimizers.AdamW(rate, weight_decay=0.004), "categorical_crossentropy")
        model.fit(X[train], (1 - share) * hard[train] + share * taught[train], batch_size=BATCH, epochs=epochs,
                  verbose=0)
        proba = model.predict(X, batch_size=4096, verbose=0)
        results[f"mesh MLP, {name}"] = {split: image_accuracy(mesh, proba, split) for split in SPLITS}
        print(name, results[f"mesh MLP, {name}"], flush=True)
    write_result("distil_mesh", {"command": "python -m bench.finished.distil_mesh", "teacher_card_sha256":
                                 teacher.card.file_sha256, "epochs": epochs, "accuracy": results}, run.results)


if __name__ == "__main__":
    main()

"""Training wing: turn a trained model into the one ONNX file serving runs, and prove they agree (the export
stage's work). The model kind's converter (meshfer.training.model_kinds: skl2onnx for scikit-learn and mord,
tf2onnx for Keras) is imported by name, so exporting one kind never imports another's code."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from meshfer.card import ONNX_FILE, ModelCard, sha256_of
from meshfer.runtime import load_model
from meshfer.training.feature_table import EVAL_SPLITS, FeatureTable
from meshfer.training.model_kinds import import_code
from meshfer.training.onnx_graph import converter_versions, finish, save_onnx
from meshfer.training.scoring import score
from meshfer.training.trained import TrainedModel


def export_onnx(model: TrainedModel, n_features: int | tuple[int, ...], calibration: np.ndarray | None = None):
    """The ONNX graph of a trained model (an ``onnx.ModelProto``) for feature rows of ``n_features``."""
    shape = (n_features,) if isinstance(n_features, int) else tuple(n_features)
    graph = import_code(model.kind, "converter").to_onnx(model, shape, calibration)
    return finish(graph, model.card.approach)


def export_model(model: TrainedModel, table: FeatureTable, directory: Path) -> ModelCard:
    """Write the trained model as ``model.onnx`` + card into ``directory``, and check on the validation and test
    faces that the file gives what the trained model gives (recorded on the card)."""
    directory.mkdir(parents=True, exist_ok=True)
    save_onnx(export_onnx(model, table.X.shape[1:], table.calibration_rows()), directory / ONNX_FILE)
    card = ModelCard(**{**asdict(model.card), "format": ONNX_FILE, "file_sha256": sha256_of(directory / ONNX_FILE)})
    card.write(directory)
    exported = load_model(directory)
    checks = {}
    for split in EVAL_SPLITS:
        X = table.x(table.rows(split))
        checks[split] = {**parity(model, exported, X), "accuracy_trained": score(model, table, split)["accuracy"],
                         "accuracy_exported": score(exported, table, split)["accuracy"]}
    card.export = {"converters": converter_versions(), "parity": checks}
    card.write(directory)
    return card


def parity(model: TrainedModel, exported, X: np.ndarray, batch: int = 1024) -> dict:
    """How far the exported file (a :class:`meshfer.runtime.InferenceModel`) is from the trained model on X:
    the share of rows whose most probable label is the same, and the largest probability difference."""
    if not len(X):
        return {"rows": 0, "argmax_agreement": 1.0, "max_abs_probability_difference": 0.0}
    agree, worst = 0, 0.0
    for start in range(0, len(X), batch):
        rows = X[start:start + batch]
        trained = model.predict_proba(rows)
        served = exported.predict_proba(rows)
        if served.ndim == 3:  # per eye: the trained model's face-level probability is the mean of both eyes
            served = served.mean(axis=1)
        agree += int((trained.argmax(axis=1) == served.argmax(axis=1)).sum())
        worst = max(worst, float(np.abs(trained - served).max()))
    return {"rows": int(len(X)), "argmax_agreement": round(agree / len(X), 6),
            "max_abs_probability_difference": float(f"{worst:.3g}")}

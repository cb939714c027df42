"""What the features, train and evaluate stages do, as functions of arrays (the stages only do file I/O)."""
from __future__ import annotations

import hashlib
from dataclasses import asdict
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from meshfer.evaluate import NO_FACE_INDEX, confusion, confusion_rows, per_class_report, split_metrics
from meshfer.features import MeshBatch, compute_features, get_kind
from meshfer.imageio import read_rgb
from meshfer.labels import labels_for
from meshfer.landmark_store import load_landmarks
from meshfer.landmarker import DetectConfig
from meshfer.models import (
    KERAS_FILE,
    MODEL_FILE,
    NETWORKS,
    ModelCard,
    TrainedModel,
    build_estimator,
    fit_quietly,
    library_versions,
)

log = logging.getLogger(__name__)

EVAL_SPLITS = ("validation", "test")


def feature_table(landmarks_dir: Path, task: str, feature_params: dict, chunk: int = 2048) -> dict[str, np.ndarray]:
    """Features of every image with a face, plus per-image metadata for all images (found or not).

    Kinds that look at pixels re-read each image from its ``path`` in the landmark index; the index keys every
    image by content hash, so a changed image changes the landmarks this stage depends on.
    """
    table = load_landmarks(landmarks_dir)
    labels = labels_for(task)
    found = np.flatnonzero(table.found)
    needs_image = get_kind(feature_params["kind"]).needs_image
    parts = []
    for start in tqdm(range(0, len(found), chunk), desc="features", disable=len(found) <= chunk):
        rows = found[start:start + chunk]
        images = [read_rgb(p) for p in table.index["path"].iloc[rows]] if needs_image else None
        batch = MeshBatch(table.points[rows], table.blendshapes[rows], table.pose[rows], images)
        parts.append(compute_features(batch, feature_params))
    X = np.vstack(parts) if parts else np.zeros((0, 1), np.float32)
    found = table.found
    index = table.index
    return {
        "X": X,
        "found": found,
        "y": index["label"].map({name: i for i, name in enumerate(labels)}).to_numpy(int),
        "split": index["split"].to_numpy(str),
        "augmented": index["augmented"].to_numpy(bool),
        "path": index["path"].to_numpy(str),
        "source_hash": np.array(hashlib.sha1(pd.util.hash_pandas_object(index, index=False).values).hexdigest()),
    }


def rows(features: dict, split: str, with_face: bool = True) -> np.ndarray:
    mask = features["split"] == split
    return mask & features["found"] if with_face else mask


def _x(features: dict, mask: np.ndarray) -> np.ndarray:
    """Feature rows of the images selected by a per-image mask (X only has rows for found images)."""
    return features["X"][mask[features["found"]]]


def fit(features: dict, approach: str, params: dict, task: str, detect: dict | None = None
        ) -> tuple[TrainedModel, dict]:
    """Train the approach's model on the training split; returns it and the training figures.

    ``detect`` (the landmarks params) goes into the card, so prediction prepares images the same way.
    """
    labels = labels_for(task)
    train, val = rows(features, "train"), rows(features, "validation")
    X, y = _x(features, train), features["y"][train]
    if len(np.unique(y)) < 2:
        raise ValueError(f"{approach}: the training split has faces of {len(np.unique(y))} label(s); need 2+")
    model_params = params["model"]
    start = time.perf_counter()
    if model_params["kind"] in NETWORKS:
        from meshfer.networks import KerasClassifier, train_network

        net, history = train_network(X, y, _x(features, val), features["y"][val], len(labels), model_params,
                                     live_dir=Path("metrics") / "training" / approach)
        estimator, fmt, extra = KerasClassifier(net), KERAS_FILE, {"epochs": len(history["loss"])}
    else:
        estimator, fmt, extra = fit_quietly(build_estimator(model_params), X, y), MODEL_FILE, {}
    seconds = time.perf_counter() - start
    kind = get_kind(params["features"]["kind"])
    card = ModelCard(
        approach=approach, task=task, labels=list(labels), feature_kind=kind.name, feature_version=kind.version,
        feature_params=params["features"], model_params=model_params, format=fmt,
        data={"landmarks_index_sha1": str(features["source_hash"]), "train_faces": int(train.sum()),
              "train_images_augmented": int((train & features["augmented"]).sum()),
              "detect_config": asdict(DetectConfig.from_params(detect or {}))},
        training={"seconds": round(seconds, 2), **extra, "libraries": library_versions()},
    )
    model = TrainedModel(card, estimator)
    if val.any():
        pred = predict_images(model, features, "validation")
        card.metrics = {"validation": split_metrics(features["y"][rows(features, "validation", False)], pred,
                                                    labels)}
    log.info("%s trained on %d faces in %.1f s", approach, len(y), seconds)
    return model, card.training


def predict_images(model: TrainedModel, features: dict, split: str) -> np.ndarray:
    """A label index per image of the split; -1 where no face was found."""
    return decide(predict_proba_images(model, features, split))


def decide(proba: np.ndarray) -> np.ndarray:
    """Most probable label index per row; -1 for rows of NaN (no face)."""
    return np.where(np.isnan(proba[:, 0]), NO_FACE_INDEX, np.nan_to_num(proba, nan=-1).argmax(axis=1))


def predict_proba_images(model: TrainedModel, features: dict, split: str) -> np.ndarray:
    every = rows(features, split, with_face=False)
    proba = np.full((int(every.sum()), len(model.card.labels)), np.nan)
    found = features["found"][every]
    if found.any():
        proba[found] = model.predict_proba(_x(features, every & features["found"]))
    return proba


def evaluate(model: TrainedModel, features: dict) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Metrics per split, a detailed report, the test confusion rows and per-image predictions."""
    labels, ordinal = model.card.labels, model.card.task == "eyes"
    metrics, report, predictions = {}, {}, []
    for split in EVAL_SPLITS:
        every = rows(features, split, with_face=False)
        if not every.any():
            continue
        y_true = features["y"][every]
        proba = predict_proba_images(model, features, split)
        y_pred = decide(proba)
        metrics[split] = split_metrics(y_true, y_pred, labels, ordinal=ordinal)
        report[split] = {"per_class": per_class_report(y_true, y_pred, labels),
                         "confusion": confusion(y_true, y_pred, labels).to_dict(orient="index")}
        frame = pd.DataFrame(proba, columns=[f"p_{name}" for name in labels])
        frame.insert(0, "path", features["path"][every])
        frame.insert(1, "split", split)
        frame.insert(2, "actual", np.array(labels)[y_true])
        frame.insert(3, "predicted", confusion_rows(y_true, y_pred, labels)["predicted"].to_numpy())
        predictions.append(frame)
    test = predictions[-1] if predictions else pd.DataFrame(columns=["actual", "predicted"])
    return metrics, report, test[["actual", "predicted"]], pd.concat(predictions, ignore_index=True)

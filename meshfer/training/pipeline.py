"""Training wing: what the features, train, export and evaluate stages do, as functions of arrays (the stages
only read and write files)."""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from meshfer.card import ONNX_FILE, ModelCard, sha256_of
from meshfer.training.estimators import (KERAS_FILE, SKOPS_FILE, TrainedModel, build_estimator, fit_quietly,
                                         library_versions)
from meshfer.training.evaluate import confusion, confusion_rows
from meshfer.features import MeshBatch, compute_features, get_kind
from meshfer.imageio import read_rgb
from meshfer.labels import labels_for
from meshfer.training.landmark_store import load_landmarks
from meshfer.landmarker import N_LANDMARKS, DetectConfig
from meshfer.training.networks import NETWORKS
from meshfer.runtime import InferenceModel, load_model
from meshfer.scores import NO_FACE_INDEX, headline, per_class_report, split_metrics

log = logging.getLogger(__name__)

EVAL_SPLITS = ("validation", "test")
# The test images that are not copies or near-copies of a training image (meshfer.training.duplicates); validation
# is always used without them.
DEDUPLICATED = "test_unseen"


def feature_table(landmarks_dir: Path, task: str, feature_params: dict, chunk: int = 2048) -> dict[str, np.ndarray]:
    """Features of every image with a face, plus per-image metadata for all images (found or not).

    Kinds that look at pixels re-read each image from its ``path`` in the landmark index; the index keys every
    image by content hash, so a changed image changes the landmarks this stage depends on.
    """
    table = load_landmarks(landmarks_dir)
    labels = labels_for(task)
    face_rows = np.flatnonzero(table.found)
    needs_image = get_kind(feature_params["kind"]).needs_image
    parts = []
    for start in tqdm(range(0, len(face_rows), chunk), desc="features", disable=len(face_rows) <= chunk):
        rows = face_rows[start:start + chunk]
        images = [read_rgb(p) for p in table.index["path"].iloc[rows]] if needs_image else None
        batch = MeshBatch(table.points[rows], table.blendshapes[rows], table.pose[rows], images)
        parts.append(compute_features(batch, feature_params))
    index = table.index
    return {
        "X": np.vstack(parts) if parts else np.zeros((0, 1), np.float32),
        "found": table.found,
        "y": index["label"].map({name: i for i, name in enumerate(labels)}).to_numpy(int),
        "split": index["split"].to_numpy(str),
        "augmented": index["augmented"].to_numpy(bool),
        "path": index["path"].to_numpy(str),
        "content_key": index["key"].to_numpy(str),
        "near_copy": index["near_copy"].to_numpy(bool),
        "source_hash": np.array(hashlib.sha1(pd.util.hash_pandas_object(index, index=False).values).hexdigest()),
    }


def rows(features: dict, split: str, with_face: bool = True) -> np.ndarray:
    """Per-image mask of a split. ``validation`` is clean (no copy of a training image: it is what every choice is
    made on); ``test`` is the whole test split (comparable with published figures); ``test_unseen`` is the test
    split without copies."""
    if split == DEDUPLICATED:
        mask = (features["split"] == "test") & ~features["near_copy"]
    elif split == "validation":
        mask = (features["split"] == "validation") & ~features["near_copy"]
    else:
        mask = features["split"] == split
    return mask & features["found"] if with_face else mask


def _x(features: dict, mask: np.ndarray) -> np.ndarray:
    """Feature rows of the images selected by a per-image mask (X only has rows for found images)."""
    return features["X"][mask[features["found"]]]


def model_params_of(section: dict) -> dict:
    """An approach's model params with the values that follow from its features filled in, so each is set in one
    place only (params.yaml has no anchors: `dvc exp run -S` must change exactly the key it names)."""
    features, model = section["features"], dict(section["model"])
    if features["kind"] == "aligned_face":
        model["image_size"] = features["crop_px"]  # the network's input is the crop
    pca_on = model.pop("pca_on", "all")
    if pca_on == "coordinates":
        model["pca_columns"] = N_LANDMARKS * features["dims"]  # the mesh columns; the blendshapes after them pass
    elif pca_on == "pixels":
        model["pca_columns"] = features["patch"]["width_px"] * features["patch"]["height_px"]  # one eye's patch
    return model


def fit(features: dict, approach: str, params: dict, task: str, detect: dict | None = None,
        live_dir: Path | None = None) -> tuple[TrainedModel, dict]:
    """Train the approach's model on the training split; returns it and its cost (seconds: machine noise, kept
    out of the card and of every tracked file).

    ``detect`` (the landmarks params) goes into the card, so prediction prepares images the same way. With
    ``live_dir`` the training is logged there by dvclive: per epoch for a network, else its training and validation
    accuracy once.
    """
    labels = labels_for(task)
    train, val = rows(features, "train"), rows(features, "validation")
    X, y = _x(features, train), features["y"][train]
    if len(np.unique(y)) < 2:
        raise ValueError(f"{approach}: the training split has faces of {len(np.unique(y))} label(s); need 2+")
    model_params = model_params_of(params)
    start = time.perf_counter()
    if model_params["kind"] in NETWORKS:
        from meshfer.training.networks import KerasClassifier, train_network

        net, history = train_network(X, y, _x(features, val), features["y"][val], len(labels), model_params,
                                     live_dir=live_dir)
        estimator, fmt, extra = KerasClassifier(net), KERAS_FILE, {"epochs": len(history["loss"])}
    else:
        estimator, fmt, extra = fit_quietly(build_estimator(model_params), X, y), SKOPS_FILE, {}
    seconds = time.perf_counter() - start
    kind = get_kind(params["features"]["kind"])
    card = ModelCard(
        approach=approach, task=task, labels=list(labels), feature_kind=kind.name, feature_version=kind.version,
        feature_params=params["features"], model_params=model_params, format=fmt,
        data={"landmarks_index_sha1": str(features["source_hash"]), "train_faces": int(train.sum()),
              "train_images_augmented": int((train & features["augmented"]).sum()),
              "detect_config": asdict(DetectConfig.from_params(detect or {}))},
        training={**extra, "libraries": library_versions()},
    )
    model = TrainedModel(card, estimator)
    if val.any():
        card.metrics = headline({"validation": score(model, features, "validation")})
    if live_dir is not None and fmt != KERAS_FILE:
        _log_once(live_dir, model, features)
    log.info("%s trained on %d faces in %.1f s", approach, len(y), seconds)
    return model, {"seconds": round(seconds, 2)}


def _log_once(live_dir: Path, model: TrainedModel, features: dict) -> None:
    """dvclive's record of a model fitted in one go: its accuracy on the training and validation faces."""
    from dvclive import Live

    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        for split, name in (("train", "train"), ("validation", "eval")):
            if rows(features, split).any():
                accuracy = score(model, features, split)["accuracy"]
                live.log_metric(f"{name}/accuracy", accuracy)


def export(model: TrainedModel, features: dict, directory: Path) -> ModelCard:
    """Write the trained model as ``model.onnx`` + card into ``directory``, and check on the validation and test
    faces that the file gives what the trained model gives (recorded on the card)."""
    from meshfer.training.export import converter_versions, export_onnx, parity, save_onnx

    directory.mkdir(parents=True, exist_ok=True)
    save_onnx(export_onnx(model, features["X"].shape[1:], calibration_rows(features)), directory / ONNX_FILE)
    card = ModelCard(**{**asdict(model.card), "format": ONNX_FILE, "file_sha256": sha256_of(directory / ONNX_FILE)})
    card.write(directory)
    exported = load_model(directory)
    checks = {}
    for split in EVAL_SPLITS:
        X = _x(features, rows(features, split))
        checks[split] = {**parity(model, exported, X), "accuracy_trained": score(model, features, split)["accuracy"],
                         "accuracy_exported": score(exported, features, split)["accuracy"]}
    card.export = {"converters": converter_versions(), "parity": checks}
    card.write(directory)
    return card


def calibration_rows(features: dict, count: int = 1024) -> np.ndarray:
    """A fixed, evenly spaced sample of training faces (for calibrating a quantised network's ranges)."""
    X = _x(features, rows(features, "train"))
    return X[np.linspace(0, len(X) - 1, min(count, len(X))).astype(int)] if len(X) else X


def score(model: TrainedModel | InferenceModel, features: dict, split: str) -> dict:
    every = rows(features, split, with_face=False)
    return split_metrics(features["y"][every], decide(predict_proba_images(model, features, split)), model.card.labels,
                         ordinal=model.card.task == "eyes")


def decide(proba: np.ndarray) -> np.ndarray:
    """Most probable label index per row; -1 for rows of NaN (no face)."""
    return np.where(np.isnan(proba[:, 0]), NO_FACE_INDEX, np.nan_to_num(proba, nan=-1).argmax(axis=1))


def predict_proba_images(model: TrainedModel | InferenceModel, features: dict, split: str) -> np.ndarray:
    """(images of the split, labels): the probabilities per image, NaN where no face was found. A per-eye model's
    face-level probability is the mean of its two eyes."""
    every = rows(features, split, with_face=False)
    proba = np.full((int(every.sum()), len(model.card.labels)), np.nan)
    found = features["found"][every]
    if found.any():
        out = np.concatenate([model.predict_proba(chunk) for chunk in
                              np.array_split(_x(features, every & features["found"]), max(1, found.sum() // 4096))])
        proba[found] = out.mean(axis=1) if out.ndim == 3 else out
    return proba


def evaluate(model: InferenceModel, features: dict) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Headline metrics per split, a detailed report, the test confusion rows and per-image predictions."""
    labels, ordinal = model.card.labels, model.card.task == "eyes"
    scores, report, predictions = {}, {}, []
    for split in EVAL_SPLITS:
        every = rows(features, split, with_face=False)
        if not every.any():
            continue
        y_true = features["y"][every]
        proba = predict_proba_images(model, features, split)
        y_pred = decide(proba)
        full = split_metrics(y_true, y_pred, labels, ordinal=ordinal)
        scores[split] = full
        report[split] = {**full, "per_class": per_class_report(y_true, y_pred, labels),
                         "confusion": confusion(y_true, y_pred, labels).to_dict(orient="index")}
        frame = pd.DataFrame(proba, columns=[f"p_{name}" for name in labels])
        frame.insert(0, "path", features["path"][every])
        frame.insert(1, "split", split)
        frame.insert(2, "actual", np.array(labels)[y_true])
        frame.insert(3, "predicted", confusion_rows(y_true, y_pred, labels)["predicted"].to_numpy())
        frame.insert(4, "near_copy", features["near_copy"][every])
        predictions.append(frame)
    unseen = unseen_test_metrics(model, features)
    if unseen:
        scores[DEDUPLICATED] = report[DEDUPLICATED] = unseen
    test = predictions[-1] if predictions else pd.DataFrame(columns=["actual", "predicted"])
    return headline(scores), report, test[["actual", "predicted"]], pd.concat(predictions, ignore_index=True)


def unseen_test_metrics(model: TrainedModel | InferenceModel, features: dict) -> dict:
    """Scores on the test images that do not copy a training image (empty if none does)."""
    test, unseen = rows(features, "test", False), rows(features, DEDUPLICATED, False)
    if not unseen.any() or unseen.sum() == test.sum():
        return {}
    keep = unseen[test]
    proba = predict_proba_images(model, features, "test")[keep]
    return {**split_metrics(features["y"][unseen], decide(proba), model.card.labels,
                            ordinal=model.card.task == "eyes"), "copies_left_out": int(test.sum() - unseen.sum())}

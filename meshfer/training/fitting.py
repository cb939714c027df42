"""Training wing: fit an approach's model on the training split of its feature table (the train stage's work).

The model kind's framework (meshfer.training.model_kinds) is imported by name: fitting a scikit-learn model never
imports a network's code, and the reverse."""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from meshfer.card import ModelCard
from meshfer.features import get_kind
from meshfer.labels import labels_for
from meshfer.landmarker import N_LANDMARKS, DetectConfig
from meshfer.scores import headline
from meshfer.training.feature_table import FeatureTable
from meshfer.training.model_kinds import import_code
from meshfer.training.scoring import score
from meshfer.training.trained import TrainedModel

log = logging.getLogger(__name__)


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


def library_versions() -> dict[str, str]:
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def fit(table: FeatureTable, approach: str, params: dict, task: str, detect: dict | None = None,
        live_dir: Path | None = None) -> tuple[TrainedModel, dict]:
    """Train the approach's model on the training split; returns it and its cost (seconds: machine noise, kept
    out of the card and of every tracked file).

    ``detect`` (the landmarks params) goes into the card, so prediction prepares images the same way. With
    ``live_dir`` the training is logged there by dvclive: per epoch for a network, else its training and validation
    accuracy once.
    """
    labels = labels_for(task)
    train, val = table.rows("train"), table.rows("validation")
    X, y = table.x(train), table.y[train]
    if len(np.unique(y)) < 2:
        raise ValueError(f"{approach}: the training split has faces of {len(np.unique(y))} label(s); need 2+")
    model_params = model_params_of(params)
    framework = import_code(model_params["kind"], "framework")
    start = time.perf_counter()
    estimator, extra = framework.fit_model(X, y, table.x(val), table.y[val], len(labels), model_params,
                                           live_dir=live_dir)
    seconds = time.perf_counter() - start
    kind = get_kind(params["features"]["kind"])
    card = ModelCard(
        approach=approach, task=task, labels=list(labels), feature_kind=kind.name, feature_version=kind.version,
        feature_params=params["features"], model_params=model_params, format=framework.FORMAT,
        data={"landmarks_index_sha1": str(table.source_hash), "train_faces": int(train.sum()),
              "train_images_augmented": int((train & table.augmented).sum()),
              "detect_config": asdict(DetectConfig.from_params(detect or {}))},
        training={**extra, "libraries": library_versions()},
    )
    model = TrainedModel(card, estimator)
    if val.any():
        card.metrics = headline({"validation": score(model, table, "validation")})
    if live_dir is not None and not framework.LOGS_EPOCHS:
        log_once(live_dir, model, table)
    log.info("%s trained on %d faces in %.1f s", approach, len(y), seconds)
    return model, {"seconds": round(seconds, 2)}


def log_once(live_dir: Path, model: TrainedModel, table: FeatureTable) -> None:
    """The training record of a model fitted in one go: its accuracy on the training and validation faces, once
    (dvclive's metrics.json) and as a two-bar table to draw (plots/metrics/accuracy.tsv: no curve of one point)."""
    from dvclive import Live

    accuracy = {split: score(model, table, split)["accuracy"] for split in ("train", "validation")
                if table.rows(split).any()}
    with Live(str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None) as live:
        for split, value in accuracy.items():
            live.log_metric(f"{'eval' if split == 'validation' else split}/accuracy", value, plot=False)
    bars = live_dir / "plots" / "metrics" / "accuracy.tsv"
    bars.parent.mkdir(parents=True, exist_ok=True)
    bars.write_text("accuracy\tsplit\n" + "".join(f"{value}\t{split}\n" for split, value in accuracy.items()))

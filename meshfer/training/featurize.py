"""Training wing: an approach's feature table from the cached landmarks (the features stage's work)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from meshfer.features import MeshBatch, compute_features, get_kind
from meshfer.imageio import read_rgb
from meshfer.labels import labels_for
from meshfer.training.feature_table import FeatureTable
from meshfer.training.landmark_store import load_landmarks


def build_feature_table(landmarks_dir: Path, task: str, feature_params: dict, chunk: int = 2048) -> FeatureTable:
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
    return FeatureTable(
        X=np.vstack(parts) if parts else np.zeros((0, 1), np.float32),
        found=table.found,
        y=index["label"].map({name: i for i, name in enumerate(labels)}).to_numpy(int),
        split=index["split"].to_numpy(str),
        augmented=index["augmented"].to_numpy(bool),
        path=index["path"].to_numpy(str),
        content_key=index["key"].to_numpy(str),
        near_copy=index["near_copy"].to_numpy(bool),
        source_hash=hashlib.sha1(pd.util.hash_pandas_object(index, index=False).values).hexdigest(),
    )

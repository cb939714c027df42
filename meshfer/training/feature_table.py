"""Training wing: the feature table, what the features stage writes for an approach (meshfer.training.featurize)
and every later stage reads.

One row per image of the dataset (found or not) for the per-image fields, and one feature row per image with a
face in ``X``. On disk: ``data/features/<approach>.npz``, one array per field, in field order.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from meshfer.training.config import load_arrays, save_arrays

# The splits every model is scored on. ``validation`` is clean (no copy of a training image: every choice is made
# on it); ``test`` is the whole test split (comparable with published figures).
EVAL_SPLITS = ("validation", "test")
# The test images that are not copies or near-copies of a training image (meshfer.training.near_copies); the
# value is the split's name in metrics files and `dvc exp show` ("unseen" in the headline).
TEST_WITHOUT_NEAR_COPIES = "test_unseen"


@dataclass(frozen=True)
class FeatureTable:
    """An approach's features and the images they come from."""

    X: np.ndarray             # (faces, ...) float32: the feature rows of the images with a face, in image order
    found: np.ndarray         # (images,) bool: MediaPipe found a face
    y: np.ndarray             # (images,) int: the label's index in the task's labels (meshfer.labels)
    split: np.ndarray         # (images,) str: train | validation | test
    augmented: np.ndarray     # (images,) bool: an augmented copy of a training image
    path: np.ndarray          # (images,) str: the image file
    content_key: np.ndarray   # (images,) str: the image's content hash (the landmark store's key)
    near_copy: np.ndarray     # (images,) bool: a validation/test image that copies a training image
    source_hash: str          # sha1 of the landmark index the table was computed from (goes into the model card)

    @classmethod
    def load(cls, path: str | Path) -> FeatureTable:
        arrays = load_arrays(path)
        return cls(**{**arrays, "source_hash": str(arrays["source_hash"])})

    def save(self, path: str | Path) -> None:
        """Field by field, in field order: the same table gives the same bytes (DVC then retrains nothing)."""
        save_arrays(path, {field.name: np.asarray(getattr(self, field.name)) for field in fields(self)})

    def rows(self, split: str, with_face: bool = True) -> np.ndarray:
        """Per-image mask of a split: ``validation`` without copies of training images, ``test`` whole,
        ``test_unseen`` (TEST_WITHOUT_NEAR_COPIES) the test split without copies; only images with a face unless
        told."""
        if split == TEST_WITHOUT_NEAR_COPIES:
            mask = (self.split == "test") & ~self.near_copy
        elif split == "validation":
            mask = (self.split == "validation") & ~self.near_copy
        else:
            mask = self.split == split
        return mask & self.found if with_face else mask

    def x(self, mask: np.ndarray) -> np.ndarray:
        """Feature rows of the images a per-image mask selects (``X`` only has rows for images with a face)."""
        return self.X[mask[self.found]]

    def calibration_rows(self, count: int = 1024) -> np.ndarray:
        """A fixed, evenly spaced sample of training faces (for calibrating a quantised network's ranges)."""
        X = self.x(self.rows("train"))
        return X[np.linspace(0, len(X) - 1, min(count, len(X))).astype(int)] if len(X) else X


def features_path(approach: str) -> Path:
    return Path("data") / "features" / f"{approach}.npz"


def load_features(approach: str) -> FeatureTable:
    """The table the features stage wrote for an approach."""
    return FeatureTable.load(features_path(approach))

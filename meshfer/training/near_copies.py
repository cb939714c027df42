"""Copies of training images outside the training split, and training images whose copies disagree on the label.

FER-2013's validation and test splits hold byte-identical copies of training images and near-copies (the same
photo re-encoded, shifted by a pixel or two, re-cropped a little, or mirrored). A model can score on those by
memorising, so every choice is made on validation without them and the test is reported with and without them.

The similarity of two images is the normalised cross-correlation of their gray thumbnails (mean removed, unit
length): 1.0 for the same pixels, near 1.0 for the same photo. Candidates come from a small thumbnail (fast, every
pair); each is then scored on the full thumbnail at every shift up to ``max_shift_px``, mirrored too when asked
(training flips its images, so a mirrored copy is memorised as well).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from meshfer.training.content_keys import content_key

log = logging.getLogger(__name__)

THUMB_PX = 48     # FER-2013's own size: its images are compared pixel for pixel
COARSE_PX = 16    # candidate search: 256 numbers per image
CANDIDATES = 5    # nearest coarse neighbours re-scored on the full thumbnail


def gray_thumbnails(paths: Sequence[str]) -> np.ndarray:
    """(images, THUMB_PX, THUMB_PX) float32 gray thumbnails."""
    def one(path: str) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("L").resize((THUMB_PX, THUMB_PX), Image.BILINEAR), np.float32)

    return np.stack([one(p) for p in tqdm(paths, desc="thumbnails", unit="img", disable=len(paths) < 5000)])


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.reshape(len(rows), -1).astype(np.float32)
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def _coarse(thumbs: np.ndarray) -> np.ndarray:
    k = THUMB_PX // COARSE_PX
    return thumbs.reshape(len(thumbs), COARSE_PX, k, COARSE_PX, k).mean(axis=(2, 4))


def _shifted_similarity(query: np.ndarray, reference: np.ndarray, shift: int) -> float:
    """The best correlation of the query's centre (a ``shift`` border removed) with the reference at every shift."""
    side = THUMB_PX - 2 * shift
    centre = _unit(query[None, shift:shift + side, shift:shift + side])[0]
    windows = np.stack([reference[shift + dy:shift + dy + side, shift + dx:shift + dx + side]
                        for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)])
    return float((_unit(windows) @ centre).max())


def nearest_training_image(thumbs: np.ndarray, is_train: np.ndarray, max_shift_px: int, mirrored: bool,
                           chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For every image: the highest similarity to a training image and that image's row (-1 and NaN for the
    training images themselves, and for every image when there is no training split)."""
    similarity, match = np.full(len(thumbs), np.nan), np.full(len(thumbs), -1)
    train, queries = np.flatnonzero(is_train), np.flatnonzero(~is_train)
    if not len(train) or not len(queries):
        return similarity, match
    references = [thumbs[train]] + ([thumbs[train][:, :, ::-1]] if mirrored else [])
    coarse_refs = np.concatenate([_unit(_coarse(r)) for r in references])
    coarse_queries = _unit(_coarse(thumbs[queries]))
    k = min(CANDIDATES, len(coarse_refs))
    for start in tqdm(range(0, len(queries), chunk), desc="near copies", disable=len(queries) <= chunk):
        block = coarse_queries[start:start + chunk] @ coarse_refs.T
        candidates = np.argpartition(-block, k - 1, axis=1)[:, :k]
        for offset, row_candidates in enumerate(candidates):
            query = queries[start + offset]
            scores = [_shifted_similarity(thumbs[query], references[c // len(train)][c % len(train)], max_shift_px)
                      for c in row_candidates]
            best = int(np.argmax(scores))
            similarity[query], match[query] = scores[best], train[row_candidates[best] % len(train)]
    return similarity, match


def conflicting_training_copies(labels: np.ndarray, keys: np.ndarray, is_train: np.ndarray) -> np.ndarray:
    """Training images that are byte-identical to another training image with a different label."""
    frame = pd.DataFrame({"label": labels, "key": keys})[is_train]
    labels_per_key = frame.groupby("key")["label"].nunique()
    conflicting = set(labels_per_key.index[labels_per_key > 1])
    return is_train & np.isin(keys, list(conflicting))


def mark_copies(manifest: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, dict]:
    """The manifest with ``near_copy`` (a validation or test image that is a copy or near-copy of a training
    image), ``copy_similarity`` and ``copy_of`` (the training image's path) per image, and without the training
    images whose byte-identical copies carry different labels; plus a report of what each rule found."""
    manifest = manifest.reset_index(drop=True)
    is_train = (manifest["split"] == "train").to_numpy()
    keys = np.array([content_key(p) for p in manifest["path"]])  # equal keys: byte-identical files
    identical = ~is_train & np.isin(keys, keys[is_train])
    similarity, match = nearest_training_image(gray_thumbnails(manifest["path"].tolist()), is_train,
                                               params["max_shift_px"], params["mirrored"])
    near = identical | (similarity >= params["similarity"])
    conflicting = conflicting_training_copies(manifest["label"].to_numpy(), keys, is_train)
    marked = manifest.assign(near_copy=near, copy_similarity=np.round(np.nan_to_num(similarity, nan=0.0), 4),
                             copy_of=np.where(match >= 0, manifest["path"].to_numpy()[np.maximum(match, 0)], ""))
    report = {"rule": params, "conflicting_training_copies_dropped": int(conflicting.sum()), "by_split": {}}
    for split in ("validation", "test"):
        rows = (manifest["split"] == split).to_numpy()
        report["by_split"][split] = {"images": int(rows.sum()), "byte_identical": int((identical & rows).sum()),
                                     "near_copies": int((near & ~identical & rows).sum()),
                                     "kept": int((rows & ~near).sum())}
    log.info("copies of training images: %s; %d conflicting training copies dropped", report["by_split"],
             conflicting.sum())
    return marked[~conflicting].reset_index(drop=True), report

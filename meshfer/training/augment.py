"""Class balancing of the training split with albumentations; validation and test are never touched."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from meshfer.imageio import read_rgb

log = logging.getLogger(__name__)


def build_transform(params: dict):
    """GridDistortion, OpticalDistortion, HorizontalFlip, then JPEG compression and Gaussian noise, each with the
    probability and limits in params (absent or 0: not applied)."""
    import albumentations as A

    steps = []
    if params.get("grid_distortion_p", 0) > 0:
        steps.append(A.GridDistortion(num_steps=params["grid_num_steps"], distort_limit=params["grid_distort_limit"],
                                      p=params["grid_distortion_p"]))
    if params.get("optical_distortion_p", 0) > 0:
        steps.append(A.OpticalDistortion(distort_limit=params["optical_distort_limit"],
                                         p=params["optical_distortion_p"]))
    if params.get("horizontal_flip_p", 0) > 0:
        steps.append(A.HorizontalFlip(p=params["horizontal_flip_p"]))
    # Pixel damage: the landmarks of a compressed or noisy image jitter, and models that saw such meshes in
    # training change their minds less when it happens at prediction time.
    if params.get("jpeg_p", 0) > 0:
        steps.append(A.ImageCompression(quality_range=tuple(params["jpeg_quality"]), p=params["jpeg_p"]))
    if params.get("noise_p", 0) > 0:
        steps.append(A.GaussNoise(std_range=tuple(params["noise_std"]), per_channel=False, p=params["noise_p"]))
    return A.Compose(steps, seed=params["seed"])


def plan_copies(train: pd.DataFrame, target_per_class: int, seed: int) -> pd.DataFrame:
    """Which source image each new copy comes from: classes below the target are topped up, cycling sources."""
    rng = np.random.default_rng(seed)
    plans = []
    for label, group in train.groupby("label", sort=True):
        missing = int(target_per_class) - len(group)
        if missing <= 0 or group.empty:
            continue
        order = group.index.to_numpy()[rng.permutation(len(group))]
        picks = np.resize(order, missing)  # cycles through every source before reusing one
        copy_no = np.arange(missing) // len(order)
        plans.append(pd.DataFrame({"source_row": picks, "copy": copy_no, "label": label}))
    return pd.concat(plans, ignore_index=True) if plans else pd.DataFrame(columns=["source_row", "copy", "label"])


def augment_manifest(manifest: pd.DataFrame, out_dir: Path, params: dict) -> pd.DataFrame:
    """Write augmented training images below ``out_dir`` and return the manifest with their rows appended."""
    manifest = manifest.reset_index(drop=True)
    target = int(params.get("target_per_class") or 0)
    train = manifest[manifest["split"] == "train"]
    plan = plan_copies(train, target, params["seed"])
    if plan.empty:
        return manifest.assign(augmented=False)
    transform = build_transform(params)
    rows = []
    for i, step in enumerate(tqdm(plan.itertuples(index=False), total=len(plan), desc="augment", unit="img")):
        src = manifest.loc[step.source_row]
        transform.set_random_seed(params["seed"] * 1_000_003 + i)  # per image, so order never matters
        image = transform(image=read_rgb(src["path"]))["image"]
        path = out_dir / "images" / step.label / f"{Path(src['path']).stem}_aug{step.copy}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        _save(image, path)
        rows.append({**src.to_dict(), "path": str(path), "augmented": True,
                     "height": image.shape[0], "width": image.shape[1]})
    log.info("added %d augmented training images", len(rows))
    return pd.concat([manifest, pd.DataFrame(rows)], ignore_index=True)


def _save(rgb: np.ndarray, path: Path) -> None:
    gray = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    Image.fromarray(rgb[..., 0] if gray else rgb).save(path)

"""The near-copy threshold with examples: validation and test images beside their most similar training image,
a row per band of similarity, and how many images each band holds (datasets.<d>.near_copies in params.yaml).

Run after `dvc repro prepare@fer`: python -m bench.finished.near_copies   (writes docs/near_copies.png and
bench/results/near_copies.json)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from bench.common import ROOT, write_result
from bench.finished.shared import arguments, first_per_label
from meshfer.training.config import load_params

BANDS = [(0.80, 0.85), (0.85, 0.88), (0.88, 0.90), (0.90, 0.92), (0.92, 0.95), (0.95, 0.99), (0.99, 1.01)]
PAIRS_PER_BAND = 12
SIDE = 64


def gray(project: Path, path: str) -> Image.Image:
    with Image.open(project / path) as image:
        return image.convert("L").resize((SIDE, SIDE))


def contact_sheet(pairs: pd.DataFrame, threshold: float, project: Path = ROOT) -> Image.Image:
    """One row per band: each pair is (validation or test image | training image), similarity and labels below."""
    row_height, pair_width = SIDE + 26, 2 * SIDE + 6
    sheet = Image.new("L", (PAIRS_PER_BAND * pair_width, len(BANDS) * row_height + 14), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((2, 0), f"left: validation/test image, right: its most similar training image; "
                      f"a near-copy from {threshold:.2f}", fill=0)
    rng = np.random.default_rng(0)
    for row, (low, high) in enumerate(BANDS):
        band = pairs[(pairs["copy_similarity"] >= low) & (pairs["copy_similarity"] < high)]
        y = 14 + row * row_height
        draw.text((2, y), f"{low:.2f}-{min(high, 1):.2f}: {len(band)} images", fill=0)
        for k, pair in enumerate(band.iloc[rng.permutation(len(band))[:PAIRS_PER_BAND]].itertuples()):
            x = k * pair_width
            sheet.paste(gray(project, pair.path), (x, y + 12))
            sheet.paste(gray(project, pair.copy_of), (x + SIDE, y + 12))
            train_label = pairs.attrs["labels"].get(pair.copy_of, "?")
            draw.text((x + 2, y + 12 + SIDE - 11), f"{pair.copy_similarity:.3f} {pair.label[:3]}/{train_label[:3]}",
                      fill=255)
    return sheet


def main(argv: list[str] | None = None, dataset: str = "fer") -> None:
    _, run = arguments(__doc__, argv)
    rule = load_params(run.project / "params.yaml")["datasets"][dataset]["near_copies"]
    manifest = pd.read_parquet(run.project / "data" / dataset / "prepared" / "manifest.parquet")
    pairs = manifest[manifest["split"] != "train"].copy()
    if run.smoke:
        pairs = pairs[first_per_label(pairs["split"].to_numpy(), pairs["label"].to_numpy())]
    pairs.attrs["labels"] = dict(zip(manifest["path"], manifest["label"]))
    sheet = (run.results if run.smoke else ROOT / "docs") / "near_copies.png"  # a smoke run leaves docs/ alone
    sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(pairs, rule["similarity"], run.project).save(sheet)
    counts = {f"{low:.2f}-{min(high, 1):.2f}": {split: int(((rows["copy_similarity"] >= low) &
                                                           (rows["copy_similarity"] < high)).sum())
                                               for split, rows in pairs.groupby("split")}
              for low, high in BANDS}
    # The training image matched may be one dropped for its conflicting labels: those pairs are not counted.
    copies = pairs[pairs["near_copy"]]
    train_label = copies["copy_of"].map(pairs.attrs["labels"])
    same_label = (train_label == copies["label"])[train_label.notna()]
    write_result("near_copies", {"command": "python -m bench.finished.near_copies", "rule": rule,
                                 "images_by_band": counts,
                                 "near_copies_by_split": pairs[pairs["near_copy"]]["split"].value_counts().to_dict(),
                                 "near_copies_with_the_training_label": round(float(same_label.mean()), 4)},
                 run.results)


if __name__ == "__main__":
    main()

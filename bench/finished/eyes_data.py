"""Is the eye model short of data? A learning curve of the served recipe (params.yaml `eyes`), and the counts.

The served features and model are fitted on seeded random fractions of the training split (3 draws per fraction,
the whole split once) and scored on the fixed clean validation and test splits, per source; no face = wrong.
If accuracy still grows steadily with each doubling of the training images, more labelled faces, not another
model on the same faces, is what the eye targets wait for. Also: the faces per source, split and label.

Run after `dvc repro landmarks@eyes`: python -m bench.finished.eyes_data   (writes bench/results/eyes_data.json)
"""
from __future__ import annotations

import numpy as np

from bench.common import (EYE_LABELS, eye_scores_by_source, eyes_section, predictions_with_sources, restricted,
                          write_result)
from bench.finished.shared import EYE_SMOKE_PER_LABEL, arguments, smaller, smoke_section
from meshfer.training.config import load_params
from meshfer.training.held_out import source_of
from meshfer.training.featurize import build_feature_table
from meshfer.training.fitting import fit

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DRAWS = 3


def counts(table: dict) -> dict:
    sources = np.array([source_of(p) for p in table.path])
    out = {}
    for source in np.unique(sources):
        for split in ("train", "validation", "test"):
            mask = (sources == source) & (table.split == split) & ~table.near_copy
            out.setdefault(source, {})[split] = {name: int(np.sum(mask & (table.y == i)))
                                                 for i, name in enumerate(EYE_LABELS)}
    return out


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    base = load_params(run.project / "params.yaml")["eyes"]
    spec = eyes_section(base, {}, base["model"])
    table = build_feature_table(run.project / "data" / "eyes" / "landmarks", "eyes", spec["features"])
    fractions, draws = ((0.5, 1.0), 1) if run.smoke else (FRACTIONS, DRAWS)
    if run.smoke:
        table, spec = smaller(table, EYE_SMOKE_PER_LABEL), smoke_section(spec)
    train = table.split == "train"
    curve = []
    for fraction in fractions:
        for draw in range(draws if fraction < 1 else 1):
            keep = ~train | (np.random.default_rng(draw).random(len(train)) < fraction)
            model, _ = fit(restricted(table, keep), "eyes", spec, "eyes")
            scored = {split: eye_scores_by_source(*predictions_with_sources(model, table, split))
                      for split in ("validation", "test")}
            curve.append({"fraction": fraction, "draw": draw, "training_images": int(np.sum(keep & train)),
                          **{split: {source: {k: s[k] for k in ("images", "accuracy", "mae_steps")}
                                     for source, s in by_split.items()} for split, by_split in scored.items()}})
            print(fraction, draw, scored["validation"]["all"]["accuracy"], scored["test"]["all"]["accuracy"],
                  flush=True)
    mean = {f"{fraction:g}": {split: round(float(np.mean([c[split]["all"]["accuracy"] for c in curve
                                                           if c["fraction"] == fraction])), 4)
                              for split in ("validation", "test")} for fraction in fractions}
    write_result("eyes_data", {"command": "python -m bench.finished.eyes_data", "recipe": spec["features"]
                               | {"model": spec["model"]}, "faces": counts(table),
                               "mean_accuracy_by_training_fraction": mean, "learning_curve": curve}, run.results)


if __name__ == "__main__":
    main()

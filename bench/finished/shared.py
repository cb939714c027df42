"""What the finished experiments share: their command line (``--smoke``, ``--project``, ``--results``), the small
subsets a smoke run uses, and the scores they have in common."""
from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, ROOT

SMOKE_PER_LABEL = 4  # images per split and label in a smoke run
# The eye models' early stopping holds out a stratified tenth of the training eyes, which needs a few of each label.
EYE_SMOKE_PER_LABEL = 12
SMOKE_PCA_COMPONENTS = 8  # a smoke run's training faces are fewer than params.yaml's PCA components


@dataclass(frozen=True)
class Run:
    """Where an experiment reads the pipeline's outputs and writes its result, and whether it is a smoke run."""

    project: Path  # the checkout whose params.yaml, data/ and models/ are read
    results: Path  # where the result file goes
    smoke: bool    # a tiny subset end to end, to show the experiment still runs: its figures mean nothing


def arguments(doc: str, argv: list[str] | None = None,
              more=None) -> tuple[argparse.Namespace, Run]:
    """The experiment's arguments (``more(parser)`` adds its own) and its Run."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="run end to end on a tiny subset in seconds; the result goes to a new temporary folder "
                             "(or --results), never to bench/results/")
    parser.add_argument("--project", type=Path, default=ROOT,
                        help="the checkout whose pipeline outputs are read (default: this one)")
    parser.add_argument("--results", type=Path, help="where the result file goes (default: bench/results/)")
    if more:
        more(parser)
    args = parser.parse_args(argv)
    results = args.results or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke else RESULTS)
    if args.smoke and results.resolve() == RESULTS.resolve():
        parser.error("a smoke run never writes to bench/results/")
    return args, Run(args.project.resolve(), results, args.smoke)


def smoke_section(section: dict) -> dict:
    """An approach's params.yaml section with its PCA small enough for a smoke run's few training faces."""
    model = section["model"]
    if not model.get("pca_components"):
        return section
    return {**section, "model": {**model, "pca_components": min(model["pca_components"], SMOKE_PCA_COMPONENTS)}}


def first_per_label(split: np.ndarray, y: np.ndarray, count: int = SMOKE_PER_LABEL) -> np.ndarray:
    """Per-image mask: the first ``count`` images of every split and label."""
    frame = pd.DataFrame({"split": split, "y": y})
    keep = np.zeros(len(frame), bool)
    keep[frame.groupby(["split", "y"]).head(count).index.to_numpy()] = True
    return keep


def smaller(table, count: int = SMOKE_PER_LABEL):
    """A FeatureTable of the first ``count`` images of every split and label (the others dropped, their rows too)."""
    import dataclasses

    keep = first_per_label(table.split, table.y, count)
    per_image = {f.name: getattr(table, f.name)[keep] for f in dataclasses.fields(table)
                 if f.name not in ("X", "source_hash")}
    return dataclasses.replace(table, X=table.X[keep[table.found]], **per_image)


def smaller_frames(tables: dict[str, pd.DataFrame], count: int = SMOKE_PER_LABEL) -> dict[str, pd.DataFrame]:
    """Saved prediction tables (same images, same order) cut to the first ``count`` images of every split and
    label."""
    first = next(iter(tables.values()))
    keep = first_per_label(first["split"].to_numpy(), first["actual"].to_numpy(), count)
    return {name: table[keep].reset_index(drop=True) for name, table in tables.items()}


def landmark_only_approaches(params: dict) -> list[str]:
    """The expression approaches that never look at pixels (their feature kind does not need the image)."""
    from meshfer.features import get_kind

    expression = [a for a, dataset in params["approaches"].items() if params["datasets"][dataset]["task"] ==
                  "expression"]
    return [a for a in expression if not get_kind(params[a]["features"]["kind"]).needs_image]


def image_accuracy(table, proba: np.ndarray, split: str) -> float:
    """Accuracy over every image of ``split``; ``proba`` has a row per found image, an image without a face counts as
    wrong."""
    from meshfer.training.scoring import decide

    every = table.rows(split, with_face=False)
    per_image = np.full((int(every.sum()), proba.shape[1]), np.nan)  # NaN: no face, which decide() calls wrong
    per_image[table.found[every]] = proba[every[table.found]]
    return round(float(np.mean(decide(per_image) == table.y[every])), 4)


def eyes_version_1(params: dict, raw: Path, work: Path) -> pd.DataFrame:
    """The eye set's version-1 split (bench.finished.eyes_split): annotator 1's FER eye faces and the UTKFace/CEW
    photos of ``raw`` (a project's data/raw), split and marked by this code without the newer folder options."""
    from meshfer.training.datasets import read_dataset
    from meshfer.training.near_copies import mark_copies

    fer_root = raw / "eyes_fer"
    labels = pd.read_csv(fer_root / "labels.csv")
    first = labels[labels["annotator"] == 1]
    for file in first["file"]:
        (work / "eyes_fer" / file).parent.mkdir(parents=True, exist_ok=True)
        os.symlink((fer_root / file).resolve(), work / "eyes_fer" / file)
    first.to_csv(work / "eyes_fer" / "labels.csv", index=False)
    plain = {**params, "more_roots": [{key: params["more_roots"][0][key]
                                       for key in ("root", "root_env", "where_to_get_it")}]}
    parts = []
    for root, name in ((raw / "eyes", "data/raw/eyes"), (work / "eyes_fer", "data/raw/eyes_fer")):
        frame, _ = read_dataset(root, plain, work / "out")
        frame["file"] = frame["path"].map(lambda p, r=root: Path(p).relative_to(r).as_posix())
        parts.append(frame.assign(source_folder=name))
    manifest, _ = mark_copies(pd.concat(parts, ignore_index=True), params["near_copies"])
    return manifest

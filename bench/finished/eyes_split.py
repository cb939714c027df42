"""Eyes 3: the split by photo, checked against the committed one.

1. The version-1 split rebuilt: annotator 1's 874 FER eye faces (labels.csv) and the 668 UTKFace/CEW photos,
   split by this code without the eyes_fer folder's options (no same-photo pairs, no kept faces), copies marked as
   the prepare stage marks them. Its counts per source, split and label must equal the committed run's: the test and
   validation counts of metrics/reports/eyes.json (by_source; validation without copies) and the training, validation
   and test counts without copies of bench/results/eyes_data.json, both as of the commit named below.
2. The new split (data/eyes/prepared/manifest.parquet, from `dvc repro prepare@eyes`): where each version-1 face
   went (all 309 test faces must stay in test), and the counts per source, annotator, split and label.

Run after `dvc repro prepare@eyes`: python -m bench.finished.eyes_split   (seconds; writes
bench/results/eyes_split.json)
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from bench.common import ROOT, write_result
from bench.finished.shared import arguments, eyes_version_1
from meshfer.training.annotations import annotators_of
from meshfer.training.config import load_params

COMMITTED_RUN = "fa0ba0d"  # the commit this work started from: its eye model, reports and benches are version 1's
SOURCES = {"data/raw/eyes": "eyes", "data/raw/eyes_fer": "eyes_fer"}


def committed(path: str) -> dict:
    shown = subprocess.run(["git", "show", f"{COMMITTED_RUN}:{path}"], cwd=ROOT, capture_output=True, text=True,
                           check=True)
    return json.loads(shown.stdout)


def committed_counts() -> dict:
    """Per source and split: label counts as the committed run reported them."""
    report, data = committed("metrics/reports/eyes.json"), committed("bench/results/eyes_data.json")
    out = {}
    for source in SOURCES:
        out[source] = {
            "test (with copies), metrics/reports/eyes.json": {
                label: c["support"] for label, c in report["by_source"]["test"][source]["per_class"].items()},
            "validation (without copies), metrics/reports/eyes.json": {
                label: c["support"] for label, c in report["by_source"]["validation"][source]["per_class"].items()},
            **{f"{split} (without copies), bench/results/eyes_data.json": data["faces"][source][split]
               for split in ("train", "validation", "test")}}
    return out


def counts(manifest: pd.DataFrame, by: list[str]) -> dict:
    table = manifest.groupby([*by, "label"]).size().unstack(fill_value=0)
    return {" / ".join(map(str, key if isinstance(key, tuple) else (key,))): {k: int(v) for k, v in row.items()}
            for key, row in table.iterrows()}


def check(manifest: pd.DataFrame, expected: dict) -> dict:
    out, clean = {}, manifest[~manifest["near_copy"]]
    for source, by_name in expected.items():
        for name, labels in by_name.items():
            split = name.split(" ")[0]
            rows = (manifest if "with copies" in name else clean)
            rows = rows[(rows["source_folder"] == source) & (rows["split"] == split)]
            rebuilt = {label: int((rows["label"] == label).sum()) for label in labels}
            out[f"{source}: {name}"] = {"committed": labels, "rebuilt": rebuilt, "equal": rebuilt == labels}
    return out


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    params = load_params(run.project / "params.yaml")["datasets"]["eyes"]
    with tempfile.TemporaryDirectory() as work:
        old = eyes_version_1(params, run.project / "data" / "raw", Path(work))
    checks = check(old, committed_counts())
    new = pd.read_parquet(run.project / "data" / "eyes" / "prepared" / "manifest.parquet")
    new["source_folder"] = new["path"].map(lambda p: next(s for s in SOURCES if p.startswith(s + "/")))
    new["file"] = [Path(p).relative_to(s).as_posix() for p, s in zip(new["path"], new["source_folder"])]
    annotators = annotators_of(run.project / "data" / "raw" / "eyes_fer")
    new["annotator"] = [annotators.get(f, 0) if s.endswith("eyes_fer") else 0
                        for f, s in zip(new["file"], new["source_folder"])]
    moves = old.merge(new, on=["source_folder", "file"], suffixes=("_v1", "_new"), how="left")
    where = pd.crosstab(moves["split_v1"], moves["split_new"].fillna("missing"))
    write_result("eyes_split", {
        "command": "python -m bench.finished.eyes_split",
        "version_1_rebuilt_equals_committed": all(c["equal"] for c in checks.values()),
        "version_1_checks": checks,
        "version_1_faces_now": {f"was {k}": {n: int(v) for n, v in row.items()} for k, row in where.iterrows()},
        "version_1_faces_moved": moves.loc[moves["split_v1"] != moves["split_new"],
                                           ["source_folder", "file", "label_v1", "split_v1", "split_new"]
                                           ].to_dict("records"),
        "old_test_faces": int((moves["split_v1"] == "test").sum()),
        "new_split": {"by_source_and_split": counts(new, ["source_folder", "split"]),
                      "by_annotator_and_split (0: data/raw/eyes)": counts(new, ["annotator", "split"]),
                      "copies_marked_by_split": {s: int(new.loc[new["split"] == s, "near_copy"].sum())
                                                 for s in ("validation", "test")}},
    }, run.results)


if __name__ == "__main__":
    main()

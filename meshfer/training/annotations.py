"""Who labelled each image, and the faces a blind second annotator labelled again: read from a dataset folder's
``labels.csv`` (an ``annotator`` column) and its agreement file (a ``more_roots`` entry's ``agreement``), for the
per-annotator report and the agreement report of the evaluate stage."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

LABELS_FILE = "labels.csv"
AGREEMENT_COLUMNS = ("source_path", "blind_label", "blind_confidence")


def _labels_table(root: Path) -> pd.DataFrame:
    csv = Path(root) / LABELS_FILE
    return pd.read_csv(csv) if csv.is_file() else pd.DataFrame(columns=["file"])


def annotators_of(root: Path) -> dict[str, int]:
    """file (relative to ``root``) -> annotator, from labels.csv (empty when it has no annotator column)."""
    table = _labels_table(root)
    if "annotator" not in table.columns:
        return {}
    return dict(zip(table["file"], table["annotator"].astype(int)))


def annotators_by_path(roots: list[dict]) -> dict[str, int]:
    """Image path as the pipeline records it (``<root>/<file>``) -> annotator, over every folder of a dataset
    (``meshfer.training.datasets.dataset_roots``)."""
    return {(Path(entry["root"]) / file).as_posix(): annotator
            for entry in roots for file, annotator in annotators_of(Path(entry["root"])).items()}


def agreement_faces(roots: list[dict]) -> pd.DataFrame:
    """The faces of every folder's agreement file: path (as the pipeline records it), blind_label,
    blind_confidence. The file names faces by labels.csv's ``source_path``."""
    parts = []
    for entry in roots:
        if not entry.get("agreement"):
            continue
        root = Path(entry["root"])
        table = pd.read_csv(root / entry["agreement"])
        missing = set(AGREEMENT_COLUMNS) - set(table.columns)
        if missing:
            raise ValueError(f"{root / entry['agreement']}: no column(s) {sorted(missing)}")
        labels = _labels_table(root)
        file_of = dict(zip(labels.get("source_path", []), labels["file"]))
        table["path"] = table["source_path"].map(lambda s: (root / file_of[s]).as_posix() if s in file_of else None)
        parts.append(table.dropna(subset=["path"])[["path", "blind_label", "blind_confidence"]])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["path", "blind_label",
                                                                                  "blind_confidence"])

"""Split a folder of labelled files by photo, not by file, keeping an earlier version's faces where they were.

One photo can sit in a folder more than once: byte-identical copies, and the same photo rescaled or shifted (listed
by the dataset in a pairs file, e.g. eyes_fer's ``near_duplicates.csv``). A model scores on such a copy by
memorising it, so all the files of one photo (a *photo group*: the closure of same source, same bytes and listed
pairs) go to one split together.

When a set grows, the faces of its first version keep the split the version-1 rule (per label, grouped by source
file, seeded) gave them, so the old test faces stay test faces and a new model and the served one can be compared on
them, paired; the old validation faces stay in validation and the old training faces in training, so the served
model never trained on a face of the new validation split either. A photo group that straddles splits goes wholly to
the most held-out of them (test, then validation). The files added since are split by the same rule, by photo group.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from meshfer.training.annotations import annotators_of
from meshfer.training.content_keys import content_key

log = logging.getLogger(__name__)

# When a photo group's kept faces were in several splits, the group goes to the first of these they were in.
HELD_OUT_FIRST = ("test", "validation", "train")


def stratified_group_split(
    labels: pd.Series, groups: pd.Series, fractions: dict[str, float], seed: int
) -> pd.Series:
    """Assign whole groups to splits, per label, in the given fractions; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    group_label = pd.DataFrame({"label": labels, "group": groups}).drop_duplicates("group")
    assignment: dict[str, str] = {}
    names = list(fractions)
    bounds = np.cumsum([fractions[n] for n in names])
    for _, grp in group_label.groupby("label", sort=True):
        members = grp["group"].to_numpy()[rng.permutation(len(grp))]
        cuts = np.round(bounds / bounds[-1] * len(members)).astype(int)
        start = 0
        for name, stop in zip(names, cuts):
            assignment.update(dict.fromkeys(members[start:stop], name))
            start = stop
    return groups.map(assignment)


def photo_groups(sources: Sequence[str], content_keys: Sequence[str],
                 same_photo: Iterable[tuple[str, str]] = ()) -> np.ndarray:
    """Per file, the source of the first file (in the given order) of its photo group: files with the same
    source, the same bytes (``content_keys``) or a listed (source, other source) pair are one photo."""
    parent = list(range(len(sources)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)  # the root is the group's first file, whatever the order of the links

    for column in (sources, content_keys):
        first: dict = {}
        for i, value in enumerate(column):
            union(first.setdefault(value, i), i)
    by_source = {source: i for i, source in reversed(list(enumerate(sources)))}
    for a, b in same_photo:
        if a in by_source and b in by_source:
            union(by_source[a], by_source[b])
    return np.array([sources[find(i)] for i in range(len(sources))], dtype=object)


def split_by_photo(frame: pd.DataFrame, groups: np.ndarray, fractions: dict[str, float], seed: int,
                   kept: np.ndarray | None = None) -> pd.Series:
    """The split of every row of ``frame`` (columns label, source): whole photo groups per label in ``fractions``.

    ``kept`` (a row mask): the earlier version's faces; they keep the split the version-1 rule (by source) gives
    them among themselves, and pull their photo group with them (the most held-out split wins)."""
    groups = pd.Series(groups, index=frame.index)
    if kept is None or not kept.any():
        return stratified_group_split(frame["label"], groups, fractions, seed)
    kept = pd.Series(np.asarray(kept, bool), index=frame.index)
    old = stratified_group_split(frame.loc[kept, "label"], frame.loc[kept, "source"], fractions, seed)
    rank = old.map(HELD_OUT_FIRST.index)
    group_split = rank.groupby(groups[kept]).min().map(lambda r: HELD_OUT_FIRST[r])
    split = groups.map(group_split)
    new = split.isna()
    if new.any():
        split[new] = stratified_group_split(frame.loc[new, "label"], groups[new], fractions, seed)
    moved = int((split[kept] != old).sum())
    if moved:
        log.info("%d earlier face(s) moved with a photo group that straddled splits", moved)
    return split


def split_label_folder(frame: pd.DataFrame, root: Path, options: dict, fractions: dict[str, float],
                       seed: int) -> pd.Series:
    """The splits of one folder's files (columns path, label, source) by photo group, with the folder's options
    (a ``more_roots`` entry): ``same_photo`` (the pairs file) and ``keep_splits_of_annotators`` (labels.csv's
    annotators whose faces make the first version)."""

    root = Path(root)
    groups = photo_groups(frame["source"].tolist(), [content_key(p) for p in frame["path"]],
                          same_photo_pairs(root, options.get("same_photo")))
    kept = None
    if options.get("keep_splits_of_annotators"):
        annotators = annotators_of(root)
        relative = frame["path"].map(lambda p: Path(p).relative_to(root).as_posix())
        kept = relative.map(annotators).isin(options["keep_splits_of_annotators"]).to_numpy()
    return split_by_photo(frame, groups, fractions, seed, kept)


def same_photo_pairs(root: Path, file_name: str | None) -> list[tuple[str, str]]:
    """The (source_path, other_source_path) pairs of a dataset's pairs file (none without one)."""
    if not file_name:
        return []
    table = pd.read_csv(Path(root) / file_name)
    missing = {"source_path", "other_source_path"} - set(table.columns)
    if missing:
        raise ValueError(f"{Path(root) / file_name}: no column(s) {sorted(missing)}")
    return list(zip(table["source_path"], table["other_source_path"]))

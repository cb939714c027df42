"""The result table's contract, in one place: its columns and their order, how each is typed, and the ``error`` text of
a row that stands for an image or a frame without a face (``labels.NO_FACE_ERROR``). Every writer of results
(``Recognizer``, videos, the command line, ``predict --dask``) builds its tables from here. Serving wing: numpy and
pandas only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from meshfer.labels import EXPRESSIONS, NO_FACE_ERROR, PROBABILITY_PREFIX, probability_columns

BOX_COLUMNS = ["x_min", "y_min", "x_max", "y_max"]
PROBA_COLUMNS = probability_columns(EXPRESSIONS)
EXPRESSION_COLUMNS = ["expression", "expression_score", *PROBA_COLUMNS]
EYE_COLUMNS = ["left_eye", "right_eye", "left_eye_openness", "right_eye_openness"]
MESH_COLUMNS = ["landmarks", "blendshapes"]
VIDEO_COLUMNS = ["frame", "timestamp_ms"]
INTEGER_COLUMNS = ["face", *VIDEO_COLUMNS]  # nullable: rows saying why there is no face have none


def result_columns(eyes: bool) -> list[str]:
    """A face's columns in a result table, in order."""
    return ["face", *BOX_COLUMNS, *EXPRESSION_COLUMNS, *(EYE_COLUMNS if eyes else [])]


def column_kind(name: str) -> type:
    """``float`` for a numeric column (integers too: they are held as float with NaN until typed), else ``object``."""
    if name in INTEGER_COLUMNS or name in BOX_COLUMNS or name.startswith(PROBABILITY_PREFIX) or name.endswith(
            ("_score", "_openness")):
        return float
    return object


def unreadable_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of inputs that could not be read: an error other than "no face found"."""
    return table[(table["error"] != "") & (table["error"] != NO_FACE_ERROR)]


def table_from_parts(parts: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """One DataFrame from per-image column dicts; a column a part lacks is missing there (NaN, <NA> or None)."""
    lengths = [len(next(iter(part.values()))) if part else 0 for part in parts]
    data = {}
    for name in columns:
        kind = column_kind(name)
        pieces = [_column(part[name], kind) if name in part else _missing(kind, n) for part, n in zip(parts, lengths)]
        values = np.concatenate(pieces) if pieces else np.zeros(0, kind)
        if name in INTEGER_COLUMNS:
            values = pd.array(values, dtype="Int64")  # float with NaN -> nullable integers
        data[name] = values
    return pd.DataFrame(data, columns=columns, copy=False)


def _column(values, kind: type) -> np.ndarray:
    if kind is float:
        return np.asarray(values, dtype=float)
    column = np.empty(len(values), dtype=object)  # element by element: a list of arrays must not become 2-D
    for i, value in enumerate(values):
        column[i] = value
    return column


def _missing(kind: type, n: int) -> np.ndarray:
    return np.full(n, np.nan) if kind is float else np.full(n, None, dtype=object)

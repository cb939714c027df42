"""The one source of truth for label names and their order."""
from __future__ import annotations

from collections.abc import Mapping

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
# Ordered from most to least open: the ordinal model relies on this order (wide=0 ... closed=3).
EYE_STATES: tuple[str, ...] = ("wide", "open", "narrowed", "closed")
# How open each state is, on a 0 (closed) .. 1 (wide) scale: an eye's openness is the expectation of this under
# the eye model's probabilities, so it grows as the eye opens.
EYE_OPENNESS: tuple[float, ...] = tuple(1 - i / (len(EYE_STATES) - 1) for i in range(len(EYE_STATES)))

TASKS: dict[str, tuple[str, ...]] = {"expression": EXPRESSIONS, "eyes": EYE_STATES}

# What an image with no detected face is scored as (the last column of a confusion matrix): always wrong, never a
# class of the model.
NO_FACE_LABEL = "no_face"
# A prediction row's ``error`` for an image or frame in which no face was found (it was read: not a failure).
NO_FACE_ERROR = "no face found"
PROBABILITY_PREFIX = "p_"


def probability_columns(labels: tuple[str, ...] | list[str]) -> list[str]:
    """The columns that hold each label's probability in a table of predictions: ``p_<label>``."""
    return [f"{PROBABILITY_PREFIX}{name}" for name in labels]


def labels_for(task: str) -> tuple[str, ...]:
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(TASKS)}") from None


def check_aliases(aliases: Mapping[str, str], task: str) -> dict[str, str]:
    """Validate a folder-name -> canonical-label mapping against the task's labels."""
    known = set(labels_for(task))
    bad = {folder: label for folder, label in aliases.items() if label not in known}
    if bad:
        raise ValueError(f"aliases map to labels that task {task!r} does not have: {bad}; known: {sorted(known)}")
    return dict(aliases)


# Folder names of other public expression sets (CK+, JAFFE, KDEF, RAF-DB and AffectNet exports, the seed's layout)
# -> meshfer's labels, for scoring on them (`meshfer evaluate`); folders of other labels (contempt) are not scored.
EXPRESSION_FOLDER_ALIASES: dict[str, str] = {
    **{name: name for name in EXPRESSIONS},
    **{f"face_{name}": name for name in EXPRESSIONS},
    "anger": "angry", "disgusted": "disgust", "face_disgusted": "disgust", "fearful": "fear", "happiness": "happy",
    "sadness": "sad", "surprised": "surprise", "face_surprised": "surprise",
}

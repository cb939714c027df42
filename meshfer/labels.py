"""The one source of truth for label names and their order."""
from __future__ import annotations

from collections.abc import Mapping

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
# Ordered from most to least open: the ordinal model relies on this order (wide=0 ... closed=3).
EYE_STATES: tuple[str, ...] = ("wide", "open", "narrowed", "closed")

TASKS: dict[str, tuple[str, ...]] = {"expression": EXPRESSIONS, "eyes": EYE_STATES}

# What an image with no detected face is scored as: always wrong, never a class of the model.
NO_FACE = "no_face"


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

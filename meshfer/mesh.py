"""Landmark index tables of the MediaPipe face mesh: the one place that names landmark numbers."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

N_LANDMARKS = 478

# MediaPipe's blendshape order (ARKit names), as the landmarker outputs them.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)  # fmt: skip

NOSE_TIP = 4
FOREHEAD = 151

# Eye contours, each a closed polygon in order around the eye (subject's left/right as MediaPipe names them).
EYE_CONTOURS: dict[str, tuple[int, ...]] = {
    "left": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "right": (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
}
EYE_CORNERS: dict[str, tuple[int, int]] = {"left": (33, 133), "right": (362, 263)}
EYE_LID_MIDPOINTS: dict[str, tuple[int, int]] = {"left": (159, 145), "right": (386, 374)}
# Iris centre and its ring of four points, per eye contour side (468.. lies in the mesh's "left" eye).
IRIS: dict[str, tuple[int, tuple[int, int, int, int]]] = {"left": (468, (469, 470, 471, 472)),
                                                          "right": (473, (474, 475, 476, 477))}
EYE_BLENDSHAPE_PREFIXES: tuple[str, ...] = ("eyeBlink", "eyeSquint", "eyeWide")
# Around the eye: the brow above it and the cheek below it move the lids (raised brows open them, a cheek squint
# narrows them), per side, and the inner brows of both.
PERIOCULAR_BLENDSHAPE_PREFIXES: tuple[str, ...] = ("browDown", "browOuterUp", "cheekSquint")
PERIOCULAR_BLENDSHAPES_BOTH_SIDES: tuple[str, ...] = ("browInnerUp",)
# The mesh's "left" eye contour (33..133) lies on the image's left: the subject's right eye. Blendshape names
# (eyeBlinkLeft, ...) and meshfer's outputs (left_eye, ...) speak of the subject's own eyes.
SUBJECT_SIDE: dict[str, str] = {"left": "right", "right": "left"}


@lru_cache(maxsize=1)
def tessellation_edges() -> np.ndarray:
    """Undirected, de-duplicated edges of the face-mesh tessellation plus the two iris rings, shape (E, 2), i < j.

    The tessellation alone leaves the ten iris landmarks (468-477) unconnected.
    """
    from meshfer.native import vision

    C = vision().FaceLandmarksConnections
    connections = [*C.FACE_LANDMARKS_TESSELATION, *C.FACE_LANDMARKS_LEFT_IRIS, *C.FACE_LANDMARKS_RIGHT_IRIS]
    pairs = np.array([(c.start, c.end) for c in connections])
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)


@lru_cache(maxsize=1)
def contour_edges() -> np.ndarray:
    """Edges of the face outline, eyes, brows and lips: what an annotated image draws."""
    from meshfer.native import vision

    return np.array([(c.start, c.end) for c in vision().FaceLandmarksConnections.FACE_LANDMARKS_CONTOURS])

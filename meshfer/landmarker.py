"""The one MediaPipe FaceLandmarker pass: model resolution, image preparation, detection."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

import meshfer  # noqa: F401  (sets the logging environment before MediaPipe loads)
from meshfer.imageio import to_rgb

log = logging.getLogger(__name__)

MODEL_ENV = "MESHFER_LANDMARKER"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
N_LANDMARKS = 478
N_BLENDSHAPES = 52


class LandmarkerModelError(RuntimeError):
    """The landmarker model file is missing or is not the expected one."""


def bundled_model_path() -> Path:
    return Path(str(resources.files("meshfer") / "assets" / "face_landmarker.task"))


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(path: str | os.PathLike | None = None, expected_sha256: str | None = MODEL_SHA256) -> Path:
    """Pick the model file (argument, then $MESHFER_LANDMARKER, then the bundled copy) and verify its hash.

    An override with another hash is accepted only when the caller passes ``expected_sha256=None``.
    """
    chosen = Path(path or os.environ.get(MODEL_ENV) or bundled_model_path())
    hint = f"expected SHA-256 {MODEL_SHA256}; the official file is at {MODEL_URL}"
    if not chosen.is_file():
        raise LandmarkerModelError(f"landmarker model not found at {chosen} ({hint})")
    if expected_sha256 is not None:
        actual = sha256_of(chosen)
        if actual != expected_sha256:
            raise LandmarkerModelError(
                f"landmarker model at {chosen} has SHA-256 {actual}, not the expected {expected_sha256}: "
                f"the file is damaged or another model ({hint})"
            )
    return chosen


@dataclass(frozen=True)
class DetectConfig:
    """How an image is prepared for MediaPipe and how MediaPipe is asked to detect."""

    num_faces: int = 2
    min_detection_confidence: float = 0.1
    min_presence_confidence: float = 0.1
    # Small, tight crops (FER-2013 is 48x48) need a border of context and upscaling to be found at all.
    pad_fraction: float = 0.25
    pad_mode: str = "constant"  # constant (black) | replicate | reflect
    min_side: int = 256
    max_side: int = 1920  # larger images are shrunk: MediaPipe looks at 256 px or less anyway
    # Alternative paddings tried, in order, on images where the first attempt finds no face.
    retry_pad_fractions: tuple[float, ...] = ()
    retry_pad_modes: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "DetectConfig":
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        for key in ("retry_pad_fractions", "retry_pad_modes"):
            known[key] = tuple(known.get(key) or ())
        return cls(**known)

    def attempts(self) -> list[tuple[float, str]]:
        retries = list(zip(self.retry_pad_fractions, self.retry_pad_modes or [self.pad_mode] * 99))
        return [(self.pad_fraction, self.pad_mode), *retries]

    def digest(self) -> str:
        text = repr(sorted(asdict(self).items())) + MODEL_SHA256
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class FaceMesh:
    """One detected face. ``points`` are in pixel coordinates of the input image (z on the x scale)."""

    points: np.ndarray  # (478, 3) float32
    blendshapes: np.ndarray  # (52,) float32, MediaPipe's order
    pose: np.ndarray  # (4, 4) float32 facial transformation matrix
    blendshape_names: tuple[str, ...] = field(default=(), repr=False)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the mesh in pixels."""
        xy = self.points[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return (x1 - x0) * (y1 - y0)


_PAD_MODES = {"constant": "BORDER_CONSTANT", "replicate": "BORDER_REPLICATE", "reflect": "BORDER_REFLECT_101"}


def prepare_image(rgb: np.ndarray, pad_fraction: float, pad_mode: str, min_side: int, max_side: int = 1920):
    """Pad by a fraction of the shorter side; scale so the shorter side is at least ``min_side`` and the
    longer at most ``max_side``.

    Returns the prepared image, the offset and the scale that map it back: input = (prepared - offset) / scale.
    """
    import cv2

    h, w = rgb.shape[:2]
    pad = int(round(pad_fraction * min(h, w)))
    scale = max(1.0, min_side / (min(h, w) + 2 * pad))
    scale = min(scale, max_side / (max(h, w) + 2 * pad))
    border = getattr(cv2, _PAD_MODES[pad_mode])
    if scale < 1.0:  # large photos: shrink first, so the padding is made at the small size
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        offset = round(pad * scale)
        if offset:
            rgb = cv2.copyMakeBorder(rgb, offset, offset, offset, offset, border, value=(0, 0, 0))
        return np.ascontiguousarray(rgb), float(offset), scale
    if pad > 0:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, border, value=(0, 0, 0))
    if scale > 1.0:
        size = (int(round(rgb.shape[1] * scale)), int(round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(rgb), pad * scale, scale


class Landmarker:
    """A MediaPipe Tasks FaceLandmarker; use as a context manager so it is closed explicitly."""

    def __init__(
        self,
        config: DetectConfig | None = None,
        model_path: str | os.PathLike | None = None,
        running_mode: str = "image",
        expected_sha256: str | None = MODEL_SHA256,
    ):
        from mediapipe.tasks.python import BaseOptions, vision

        self.config = config or DetectConfig()
        self.model_path = resolve_model(model_path, expected_sha256)
        self.running_mode = running_mode
        mode = {"image": vision.RunningMode.IMAGE, "video": vision.RunningMode.VIDEO}[running_mode]
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self.model_path.read_bytes()),
            running_mode=mode,
            num_faces=self.config.num_faces,
            min_face_detection_confidence=self.config.min_detection_confidence,
            min_face_presence_confidence=self.config.min_presence_confidence,
            min_tracking_confidence=self.config.min_presence_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def detect(self, image: Any, timestamp_ms: int | None = None) -> list[FaceMesh]:
        """All faces in one image, most confident first (MediaPipe's order); an empty list when there is none.

        A detection lying mostly inside a more confident one is the same face found twice, and one less than a
        tenth the size of the most confident face is, at the low confidence small crops need, almost always a
        texture mistaken for a face: both are dropped.
        """
        rgb = to_rgb(image)
        attempts = self.config.attempts() if self.running_mode == "image" else self.config.attempts()[:1]
        for pad_fraction, pad_mode in attempts:
            faces = self._detect_once(rgb, pad_fraction, pad_mode, timestamp_ms)
            if faces:
                return faces
        return []

    def _detect_once(self, rgb, pad_fraction, pad_mode, timestamp_ms) -> list[FaceMesh]:
        import mediapipe as mp

        if self._task is None:
            raise RuntimeError("this Landmarker is closed")
        prepared, offset, scale = prepare_image(rgb, pad_fraction, pad_mode, self.config.min_side,
                                                self.config.max_side)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=prepared)
        if self.running_mode == "video":
            result = self._task.detect_for_video(mp_image, int(timestamp_ms or 0))
        else:
            result = self._task.detect(mp_image)
        height, width = prepared.shape[:2]
        faces = [
            _to_face_mesh(result, i, width, height, offset, scale) for i in range(len(result.face_landmarks))
        ]
        return plausible_faces(faces)


def plausible_faces(faces: list[FaceMesh], max_overlap: float = 0.5, min_relative_area: float = 0.1
                    ) -> list[FaceMesh]:
    """Keep faces in order, dropping any covered by a kept face's box for more than ``max_overlap`` of the
    smaller box, or smaller than ``min_relative_area`` times the first face's box."""
    kept: list[FaceMesh] = []
    for face in faces:
        if kept and face.area < min_relative_area * kept[0].area:
            continue
        if all(_overlap(face.bbox, other.bbox) <= max_overlap for other in kept):
            kept.append(face)
    return kept


def _overlap(a: tuple, b: tuple) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1e-9)


def _to_face_mesh(result, i: int, width: int, height: int, offset: float, scale: float) -> FaceMesh:
    pts = np.array([(p.x * width, p.y * height, p.z * width) for p in result.face_landmarks[i]], dtype=np.float32)
    pts[:, :2] -= offset
    pts /= scale
    shapes = result.face_blendshapes[i]
    return FaceMesh(
        points=pts,
        blendshapes=np.array([c.score for c in shapes], dtype=np.float32),
        pose=np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32).reshape(4, 4),
        blendshape_names=tuple(c.category_name for c in shapes),
    )

"""The one MediaPipe FaceLandmarker pass: model resolution, image preparation, detection.

Core: the training wing's landmark store and the serving wing's Recognizer both detect through
:meth:`Landmarker.detect`, so a served face gets exactly the mesh its model was trained on.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import weakref
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

import meshfer  # noqa: F401  (sets the logging environment before MediaPipe loads)
from meshfer.native import mediapipe, quiet_native_logs, vision
from meshfer.card import sha256_of
from meshfer.imageio import to_rgb
from meshfer.mesh import N_LANDMARKS

log = logging.getLogger(__name__)

MODEL_ENV = "MESHFER_LANDMARKER"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
N_BLENDSHAPES = 52
# Changes with any change to how detect() prepares images or picks faces, so cached landmarks made the old way are
# not reused: 2 = strict then lenient passes, denoise retry, padding only for images that are upscaled.
DETECTION_VERSION = 2


class LandmarkerModelError(RuntimeError):
    """The landmarker model file is missing or is not the expected one."""


def bundled_model_path() -> Path:
    return Path(str(resources.files("meshfer") / "assets" / "face_landmarker.task"))


def resolve_model(path: str | os.PathLike | None = None, unsafe: bool = False) -> tuple[Path, str]:
    """The model file (argument, then $MESHFER_LANDMARKER, then the bundled copy) and its SHA-256.

    An override is for keeping the official file elsewhere; it must be byte-identical to it, because the models
    were trained on that file's meshes. ``unsafe=True`` accepts any file (another landmarker version, at your
    own risk: its meshes may differ from those the models learned).
    """
    chosen = Path(path or os.environ.get(MODEL_ENV) or bundled_model_path())
    hint = f"expected SHA-256 {MODEL_SHA256}; the official file is at {MODEL_URL}"
    if not chosen.is_file():
        raise LandmarkerModelError(f"landmarker model not found at {chosen} ({hint})")
    actual = sha256_of(chosen)
    if actual != MODEL_SHA256 and not unsafe:
        raise LandmarkerModelError(
            f"landmarker model at {chosen} has SHA-256 {actual}, not the expected one: the file is damaged or "
            f"another model ({hint}); to use another landmarker anyway, pass unsafe_model=True "
            f"(on the command line: --unsafe-landmarker)"
        )
    return chosen, actual


@dataclass(frozen=True)
class DetectConfig:
    """How an image is prepared for MediaPipe and how MediaPipe is asked to detect.

    Detection runs in two passes. The strict pass asks for up to ``num_faces`` faces at MediaPipe's usual
    confidence: real faces pass it, and each costs one landmark run. Only when it finds nothing does a lenient
    pass look for one face at a low confidence, which small, tight crops (FER-2013's 48 px) need. (At a low
    confidence with several faces allowed, every spurious detector candidate costs a landmark run.) The
    threshold changes the mesh itself (MediaPipe's detector blends overlapping candidates into the face's
    region), so training and serving detect the same way and the first face gets the same mesh in both.
    """

    num_faces: int = 4
    min_detection_confidence: float = 0.5  # the strict pass
    fallback_detection_confidence: float = 0.1  # the lenient, single-face pass
    min_presence_confidence: float = 0.1
    # Small, tight crops (FER-2013 is 48x48) need a border of context and upscaling to be found at all.
    pad_fraction: float = 0.25
    pad_mode: str = "constant"  # constant (black) | replicate | reflect
    min_side: int = 256
    max_side: int = 1920  # larger images are shrunk: MediaPipe looks at 256 px or less anyway
    # Alternative paddings tried, in order, by the lenient pass on images where the first attempt finds no face.
    retry_pad_fractions: tuple[float, ...] = ()
    retry_pad_modes: tuple[str, ...] = ()
    # Last, where still no face was found: the lenient pass on a copy blurred by this Gaussian sigma (input pixels;
    # 0 = off). Sensor noise or compression can hide a face that a little blur gives back.
    denoise_sigma: float = 0.0

    def __post_init__(self):
        if self.num_faces < 1:
            raise ValueError(f"num_faces must be at least 1, not {self.num_faces}")
        if self.pad_mode not in _PAD_MODES or any(m not in _PAD_MODES for m in self.retry_pad_modes):
            raise ValueError(f"pad modes must be among {sorted(_PAD_MODES)}")

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
        """What the meshes depend on: everything but ``num_faces`` (it never changes the first face's mesh)."""
        settings = {k: v for k, v in asdict(self).items() if k != "num_faces"}
        text = repr(sorted(settings.items())) + MODEL_SHA256 + str(DETECTION_VERSION)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class FaceMesh:
    """One detected face. ``points`` are in pixel coordinates of the input image (z on the x scale)."""

    points: np.ndarray  # (478, 3) float32
    blendshapes: np.ndarray  # (52,) float32, MediaPipe's order
    pose: np.ndarray  # (4, 4) float32 facial transformation matrix

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the mesh in pixels."""
        x0, y0 = self.points[:, :2].min(axis=0)
        x1, y1 = self.points[:, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return (x1 - x0) * (y1 - y0)


_PAD_MODES = {"constant": "BORDER_CONSTANT", "replicate": "BORDER_REPLICATE", "reflect": "BORDER_REFLECT_101"}


def prepare_image(rgb: np.ndarray, pad_fraction: float, pad_mode: str, min_side: int, max_side: int = 1920,
                  pad_large: bool = True):
    """Scale so the shorter side is at least ``min_side`` and the longer at most ``max_side``, after padding by
    a fraction of the shorter side: the face detector needs context around a tight face crop (FER-2013's). With
    ``pad_large=False`` only images smaller than ``min_side`` are padded: in a larger picture padding would only
    make the faces smaller for the detector.

    Returns the prepared image, the offset and the scale that map it back: input = (prepared - offset) / scale.
    """
    import cv2

    h, w = rgb.shape[:2]
    pad = int(round(pad_fraction * min(h, w))) if pad_large or min(h, w) < min_side else 0
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


def _close_before_exit(obj) -> None:
    """Close ``obj`` when the interpreter exits, before Python shuts down thread pools: MediaPipe 1.x calls its
    C library through one, so its own ``__del__`` at exit prints a traceback."""
    ref = weakref.ref(obj)

    def close():
        alive = ref()
        if alive is not None:
            alive.close()

    register = getattr(threading, "_register_atexit", None)  # runs before concurrent.futures' own exit hook
    try:
        (register or __import__("atexit").register)(close)
    except RuntimeError:  # the interpreter is already shutting down
        pass


class Landmarker:
    """Two MediaPipe Tasks FaceLandmarkers (strict and lenient, see :class:`DetectConfig`) in IMAGE mode; use it as
    a context manager, or call :meth:`close`, so they are closed explicitly."""

    def __init__(self, config: DetectConfig | None = None, model_path: str | os.PathLike | None = None,
                 unsafe_model: bool = False):
        self.config = config or DetectConfig()
        self.model_path, self.model_sha256 = resolve_model(model_path, unsafe_model)
        self._strict = self._lenient = None
        self._strict = self._task(self.config.num_faces, self.config.min_detection_confidence)
        _close_before_exit(self)

    def _task(self, num_faces: int, confidence: float):
        tasks = vision()
        options = tasks.FaceLandmarkerOptions(
            base_options=mediapipe().tasks.BaseOptions(model_asset_buffer=self.model_path.read_bytes()),
            running_mode=tasks.RunningMode.IMAGE,
            num_faces=num_faces,
            min_face_detection_confidence=confidence,
            min_face_presence_confidence=self.config.min_presence_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            with quiet_native_logs():
                return tasks.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as err:  # an unsafe_model file that is no FaceLandmarker bundle
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise LandmarkerModelError(f"{self.model_path} is not a usable face landmarker model ({reason})") from None

    @property
    def lenient(self):
        """The lenient pass's landmarker, made on first need: photos never need it, and each costs ~50 MB."""
        if self._lenient is None:
            self._lenient = self._task(1, self.config.fallback_detection_confidence)
        return self._lenient

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for name in ("_strict", "_lenient"):
            task = getattr(self, name, None)
            if task is not None:
                task.close()
                setattr(self, name, None)

    def detect(self, image: Any) -> list[FaceMesh]:
        """All faces in one image, most confident first; an empty list when there is none.

        A detection lying mostly inside a more confident one is the same face found twice, and one less than a
        tenth the size of the most confident face is almost always a texture mistaken for a face: both are dropped.
        """
        if self._strict is None:
            raise RuntimeError("the face landmarker was closed (by close() or the end of its `with` block); "
                               "make a new Recognizer to go on")
        rgb = to_rgb(image)
        for attempt, (pad_fraction, pad_mode) in enumerate(self.config.attempts()):
            # The first attempt pads small images only; the retries, for hard cases (a tight crop of a large
            # photo), pad whatever the size.
            passes = (self._strict, None) if attempt == 0 else (None,)  # None: the lenient pass
            if faces := self._first_found(rgb, pad_fraction, pad_mode, passes, pad_large=attempt > 0):
                return faces
        if self.config.denoise_sigma > 0:
            import cv2

            blurred = cv2.GaussianBlur(rgb, (0, 0), self.config.denoise_sigma)
            return self._first_found(blurred, self.config.pad_fraction, self.config.pad_mode, (None,),
                                     pad_large=True)
        return []

    def _first_found(self, rgb: np.ndarray, pad_fraction: float, pad_mode: str, passes, pad_large: bool
                     ) -> list[FaceMesh]:
        prepared = prepare_image(rgb, pad_fraction, pad_mode, self.config.min_side, self.config.max_side, pad_large)
        for task in passes:
            if faces := plausible_faces(_meshes(task or self.lenient, *prepared)):
                return faces
        return []


def _meshes(task, prepared: np.ndarray, offset: float, scale: float) -> list[FaceMesh]:
    mp = mediapipe()
    result = task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=prepared))
    height, width = prepared.shape[:2]
    faces = []
    for landmarks, shapes, pose in zip(result.face_landmarks, result.face_blendshapes,
                                       result.facial_transformation_matrixes):
        points = np.array([[p.x for p in landmarks], [p.y for p in landmarks], [p.z for p in landmarks]],
                          np.float32).T
        points *= np.float32(width)
        points[:, 1] *= np.float32(height / width)
        points[:, :2] -= offset
        points /= scale
        faces.append(FaceMesh(points, np.array([c.score for c in shapes], np.float32),
                              np.asarray(pose, np.float32).reshape(4, 4)))
    return faces


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

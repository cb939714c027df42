"""The public API: one object, one call per image, a tidy pandas result.

>>> from meshfer import Recognizer
>>> with Recognizer() as rec:
...     faces = rec.predict("face.jpg")        # one row per face found; empty when there is none
"""
from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from meshfer import mesh
from meshfer.features import MeshBatch, compute_features
from meshfer.imageio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageReadError, to_rgb
from meshfer.labels import EYE_STATES, EXPRESSIONS
from meshfer.landmarker import DetectConfig, FaceMesh, Landmarker
from meshfer.models import ModelLoadError, PerEyeClassifier, TrainedModel, load_model

log = logging.getLogger(__name__)

EYES_APPROACH = "eyes"
ENSEMBLE = "ensemble"
ENSEMBLE_FILE = "ensemble.json"
BOX_COLUMNS = ["face", "x_min", "y_min", "x_max", "y_max"]
EXPRESSION_COLUMNS = ["expression", "expression_score", *[f"p_{name}" for name in EXPRESSIONS]]
EYE_COLUMNS = ["left_eye", "right_eye", "left_eye_openness", "right_eye_openness"]


def bundled_models_dir() -> Path:
    return Path(str(resources.files("meshfer") / "assets" / "models"))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"cannot read {path} ({err})") from None


def available_approaches(models_dir: str | os.PathLike) -> list[str]:
    """The expression models in a models folder (sub-folders whose card says task 'expression')."""
    root = Path(models_dir)
    cards = sorted(root.glob("*/card.json")) if root.is_dir() else []
    return [c.parent.name for c in cards if _read_json(c).get("task") == "expression"]


def ensemble_members(models_dir: str | os.PathLike) -> list[str]:
    """The members the ensemble was evaluated with (ensemble.json), else every expression model."""
    spec = Path(models_dir) / ENSEMBLE_FILE
    return _read_json(spec)["members"] if spec.is_file() else available_approaches(models_dir)


def validation_accuracy(models_dir: str | os.PathLike, approach: str) -> float:
    root = Path(models_dir)
    source = root / ENSEMBLE_FILE if approach == ENSEMBLE else root / approach / "card.json"
    return _read_json(source).get("metrics", {}).get("validation", {}).get("accuracy", 0.0) if source.is_file() else 0.0


def best_on_validation(models_dir: str | os.PathLike) -> str:
    """The expression approach (or the ensemble) with the highest validation accuracy."""
    candidates = available_approaches(models_dir)
    if not candidates:
        raise ModelLoadError(f"no expression model in {models_dir}")
    if (Path(models_dir) / ENSEMBLE_FILE).is_file():
        candidates.append(ENSEMBLE)
    return max(candidates, key=lambda a: validation_accuracy(models_dir, a))


class Recognizer:
    """Face meshes in, expressions and eye states out.

    Parameters
    ----------
    approach: an expression model in ``models_dir`` ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "mesh_hgb",
        "aligned_cnn") or "ensemble" (soft voting); None picks the best on validation.
    models_dir: a pipeline's ``models/`` folder; None uses the pretrained models shipped in the package.
    eyes: also rate each eye's closeness (needs the ``eyes`` model).
    num_faces: at most this many faces per image.
    landmarker_model: another face_landmarker.task (its hash is still checked).
    """

    def __init__(
        self,
        approach: str | None = None,
        models_dir: str | os.PathLike | None = None,
        eyes: bool = True,
        num_faces: int = 4,
        landmarker_model: str | os.PathLike | None = None,
        detect_config: DetectConfig | None = None,
        running_mode: str = "image",
    ):
        # Kept so that worker processes can build the same recognizer (predict_many with n_jobs).
        self._settings = dict(approach=approach, models_dir=models_dir, eyes=eyes, num_faces=num_faces,
                              landmarker_model=landmarker_model, detect_config=detect_config)
        self.models_dir = Path(models_dir) if models_dir else bundled_models_dir()
        self.approach = approach or best_on_validation(self.models_dir)
        self.expression_models = self._load_expression_models(self.approach)
        self.eye_model = load_model(self.models_dir / EYES_APPROACH) if eyes else None
        config = detect_config or self._detect_config_from_cards(num_faces)
        self.landmarker = Landmarker(config, landmarker_model, running_mode=running_mode)

    def _load_expression_models(self, approach: str) -> list[TrainedModel]:
        known = available_approaches(self.models_dir)
        names = ensemble_members(self.models_dir) if approach == ENSEMBLE else [approach]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown approach {unknown[0]!r}; {self.models_dir} has {[*known, ENSEMBLE]}")
        return [load_model(self.models_dir / name) for name in names]

    def _detect_config_from_cards(self, num_faces: int) -> DetectConfig:
        # Serve with the padding the models were trained with, so served meshes look like training meshes.
        detect = self.expression_models[0].card.data.get("detect_config", {})
        return DetectConfig.from_params({**detect, "num_faces": num_faces})

    def __enter__(self) -> "Recognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.landmarker.close()

    # --- one image -------------------------------------------------------------------------------------------
    def predict(self, image: Any, channel_order: str = "RGB", return_mesh: bool = False) -> pd.DataFrame:
        """One row per face (0 = most confident): box, expression and its probabilities, eye states; empty when
        no face is found.

        ``image`` is a path, a numpy array (gray, RGB or BGR with ``channel_order="BGR"``; uint8 or uint16)
        or a PIL image. Unreadable input raises :class:`meshfer.imageio.ImageReadError`.
        """
        rgb = to_rgb(image, channel_order)
        return self.describe(self.landmarker.detect(rgb), return_mesh, image=rgb)

    def describe(self, faces: list[FaceMesh], return_mesh: bool = False, image: np.ndarray | None = None
                 ) -> pd.DataFrame:
        """The result table for meshes that have already been detected in ``image`` (RGB; needed only by
        approaches that look at pixels, such as ``aligned_cnn``)."""
        columns = self.columns(return_mesh)
        if not faces:
            return pd.DataFrame(columns=columns)
        batch = MeshBatch(np.stack([f.points for f in faces]), np.stack([f.blendshapes for f in faces]),
                          np.stack([f.pose for f in faces]), None if image is None else [image] * len(faces))
        table = pd.DataFrame([(i, *f.bbox) for i, f in enumerate(faces)], columns=BOX_COLUMNS)
        proba = self.expression_proba(batch)
        table["expression"] = np.array(EXPRESSIONS)[proba.argmax(axis=1)]
        table["expression_score"] = proba.max(axis=1)
        for j, name in enumerate(EXPRESSIONS):
            table[f"p_{name}"] = proba[:, j]
        if self.eye_model is not None:
            table = table.join(self._eye_table(batch))
        if return_mesh:
            table["landmarks"] = [f.points for f in faces]
            table["blendshapes"] = [dict(zip(mesh.BLENDSHAPE_NAMES, f.blendshapes.tolist())) for f in faces]
        return table[columns]

    def columns(self, return_mesh: bool = False) -> list[str]:
        extra = EYE_COLUMNS if self.eye_model is not None else []
        return [*BOX_COLUMNS, *EXPRESSION_COLUMNS, *extra, *(["landmarks", "blendshapes"] if return_mesh else [])]

    def expression_proba(self, batch: MeshBatch) -> np.ndarray:
        """(faces, 7) probabilities; the ensemble averages its members (soft voting)."""
        probas = [m.predict_proba(compute_features(batch, m.card.feature_params)) for m in self.expression_models]
        return np.mean(probas, axis=0)

    def _eye_table(self, batch: MeshBatch) -> pd.DataFrame:
        X = compute_features(batch, self.eye_model.card.feature_params)
        estimator = self.eye_model.estimator
        if isinstance(estimator, PerEyeClassifier):
            per_eye = estimator.predict_proba_per_eye(X)  # (faces, 2, 4): mesh-left contour, mesh-right contour
        else:
            both = self.eye_model.predict_proba(X)
            per_eye = np.stack([both, both], axis=1)
        steps = np.arange(len(EYE_STATES))
        table = pd.DataFrame(index=range(len(X)))
        for k, contour_side in enumerate(("left", "right")):
            side = mesh.SUBJECT_SIDE[contour_side]
            table[f"{side}_eye"] = np.array(EYE_STATES)[per_eye[:, k].argmax(axis=1)]
            # Expected label index: 0 = wide ... 3 = closed, a continuous closeness score.
            table[f"{side}_eye_openness"] = per_eye[:, k] @ steps
        return table

    # --- many images -----------------------------------------------------------------------------------------
    def predict_many(self, sources: Iterable[str | os.PathLike], progress: bool = True, n_jobs: int = 1,
                     chunk_size: int = 64) -> pd.DataFrame:
        """Every image of the given files and folders; one row per face, plus a row with ``error`` for files
        that could not be read or had no face (``error="no face found"``), so nothing is lost silently.

        ``n_jobs`` > 1 (or -1 for all cores) spreads chunks of files over worker processes.
        """
        from tqdm.auto import tqdm

        paths = list(expand_paths(sources))
        columns = ["path", *self.columns(), "error"]
        bar = tqdm(total=len(paths), desc="predict", unit="img", disable=not progress or len(paths) < 2)
        if n_jobs == 1 or len(paths) <= chunk_size:
            frames = []
            for path in paths:
                frames.append(self._predict_file(path))
                bar.update()
        else:
            from joblib import Parallel, delayed

            chunks = [paths[i : i + chunk_size] for i in range(0, len(paths), chunk_size)]
            frames = []
            for frame, count in Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_predict_chunk)(self._settings, chunk) for chunk in chunks
            ):
                frames.append(frame)
                bar.update(count)
        bar.close()
        return _concat(frames, columns)

    def _predict_file(self, path: Path) -> pd.DataFrame:
        try:
            table = self.predict(path)
        except ImageReadError as err:
            return pd.DataFrame({"path": [str(path)], "error": [err.reason]})
        if table.empty:
            return pd.DataFrame({"path": [str(path)], "error": ["no face found"]})
        table.insert(0, "path", str(path))
        table["error"] = ""
        return table

    # --- video -----------------------------------------------------------------------------------------------
    def predict_video(self, source: str | os.PathLike | int, smoothing: int = 1, max_frames: int | None = None,
                      return_mesh: bool = False, with_frames: bool = False) -> Iterator[pd.DataFrame]:
        """Yield one table per frame of a video file or camera index, with ``frame`` and ``timestamp_ms``.

        ``smoothing`` > 1 averages each face's expression probabilities over that many recent frames.
        ``with_frames`` puts the BGR frame in ``table.attrs["frame_bgr"]`` (for drawing).
        Needs a Recognizer made with ``running_mode="video"``.
        """
        if self.landmarker.running_mode != "video":
            raise ValueError('predict_video needs Recognizer(running_mode="video")')
        history: dict[int, deque] = {}
        for frame_no, timestamp_ms, bgr in read_frames(source, max_frames):
            rgb = to_rgb(bgr, "BGR")
            table = self.describe(self.landmarker.detect(rgb, timestamp_ms=timestamp_ms), return_mesh, image=rgb)
            if smoothing > 1 and not table.empty:
                table = _smooth(table, history, smoothing)
            table.insert(0, "frame", frame_no)
            table.insert(1, "timestamp_ms", timestamp_ms)
            if with_frames:
                table.attrs["frame_bgr"] = bgr
            yield table


# Folder names of other public expression sets (CK+, JAFFE, KDEF, RAF-DB and AffectNet exports, the seed's
# layout) -> meshfer's labels, for scoring on them; folders of other labels (e.g. contempt) are listed, not scored.
FOLDER_ALIASES: dict[str, str] = {
    **{name: name for name in EXPRESSIONS},
    **{f"face_{name}": name for name in EXPRESSIONS},
    "anger": "angry", "disgusted": "disgust", "face_disgusted": "disgust", "fearful": "fear", "happiness": "happy",
    "sadness": "sad", "surprised": "surprise", "face_surprised": "surprise",
}


def evaluate_folder(recognizer: Recognizer, root: str | os.PathLike, aliases: dict[str, str] | None = None,
                    n_jobs: int = 1, progress: bool = True) -> dict:
    """Score a recogniser on any labelled image set laid out as ``root/<label>/*`` (a cross-dataset check).

    The most confident face of each image counts; an image with no face counts as wrong, as in the pipeline.
    """
    from meshfer.datasets import PrepareReport, scan_label_folders
    from meshfer.evaluate import per_class_report, split_metrics

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    report = PrepareReport(layout="label_folders")
    labelled = scan_label_folders(root, aliases or FOLDER_ALIASES, report)
    if not labelled:
        raise ValueError(f"{root}: no images in folders named after labels; known folder names: "
                         f"{sorted(aliases or FOLDER_ALIASES)} (unknown here: {report.unknown_folders})")
    table = recognizer.predict_many([path for path, _ in labelled], progress=progress, n_jobs=n_jobs)
    first = table[table["error"].fillna("") == ""].drop_duplicates("path").set_index("path")["expression"]
    y_true = np.array([EXPRESSIONS.index(label) for _, label in labelled])
    y_pred = np.array([EXPRESSIONS.index(first[str(p)]) if str(p) in first.index else -1 for p, _ in labelled])
    errors = table.loc[table["error"].fillna("") != "", "error"].value_counts().to_dict()
    return {"root": str(root), "approach": recognizer.approach, **split_metrics(y_true, y_pred, EXPRESSIONS),
            "per_class": per_class_report(y_true, y_pred, EXPRESSIONS), "errors": errors,
            "unknown_folders": report.unknown_folders, "empty_folders": report.empty_folders}


_WORKER_RECOGNIZERS: dict[str, Recognizer] = {}


def _predict_chunk(settings: dict, paths: list[Path]) -> tuple[pd.DataFrame, int]:
    # One recognizer per worker process and settings, kept for the chunks that follow: loading the models
    # and the landmarker costs seconds, a chunk of images about as much.
    key = repr(sorted(settings.items()))
    if key not in _WORKER_RECOGNIZERS:
        import threading

        _WORKER_RECOGNIZERS[key] = recognizer = Recognizer(**settings)
        # MediaPipe closes through a thread pool, which plain atexit handlers find already shut down; hooks
        # registered with threading run before that, newest first.
        getattr(threading, "_register_atexit", __import__("atexit").register)(recognizer.close)
    return _WORKER_RECOGNIZERS[key].predict_many(paths, progress=False), len(paths)


def _smooth(table: pd.DataFrame, history: dict[int, deque], window: int) -> pd.DataFrame:
    columns = [f"p_{name}" for name in EXPRESSIONS]
    for i in table.index:
        past = history.setdefault(int(table.at[i, "face"]), deque(maxlen=window))
        past.append(table.loc[i, columns].to_numpy(float))
        table.loc[i, columns] = np.mean(past, axis=0)
    proba = table[columns].to_numpy(float)
    table["expression"] = np.array(EXPRESSIONS)[proba.argmax(axis=1)]
    table["expression_score"] = proba.max(axis=1)
    return table


def read_frames(source: str | os.PathLike | int, max_frames: int | None = None):
    """(frame number, timestamp in ms, BGR frame) from a video file or a camera index."""
    import cv2

    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise ImageReadError(source, "no such video file")
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        raise ImageReadError(source, "cannot open the video or camera")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        frame_no, last_ts = 0, -1
        while max_frames is None or frame_no < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            # MediaPipe's video mode needs strictly increasing timestamps.
            timestamp = max(int(round(frame_no * 1000.0 / fps)), last_ts + 1)
            yield frame_no, timestamp, frame
            frame_no, last_ts = frame_no + 1, timestamp
    finally:
        capture.release()


def expand_paths(sources: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given; folders expanded to their images (recursively, sorted, symlink loops not followed)."""
    for source in sources:
        path = Path(source)
        if path.is_dir():
            yield from sorted(p for p in _walk(path) if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def _walk(folder: Path) -> Iterator[Path]:
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            yield Path(root) / name


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)

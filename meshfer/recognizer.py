"""The public API: one object, one call per image, a tidy pandas result.

>>> from meshfer import Recognizer
>>> with Recognizer() as rec:
...     faces = rec.predict("face.jpg")        # one row per face found; empty when there is none

Serving wing: numpy, MediaPipe, onnxruntime and pandas; nothing of the training stack.
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from meshfer import mesh
from meshfer.eye_events import LiveEyeEvents
from meshfer.features import MeshBatch, compute_features
from meshfer.imageio import (
    MAX_PIXELS, ImageReadError, folder_contents, is_video_path, labelled_images, read_rgb, to_rgb, unique,
)
from meshfer.jsonout import json_value
from meshfer.labels import (
    EXPRESSION_FOLDER_ALIASES, EXPRESSIONS, EYE_OPENNESS, EYE_STATES, NO_FACE_ERROR, NO_FACE_LABEL,
)
from meshfer.landmarker import DetectConfig, FaceMesh, Landmarker
from meshfer.result_table import (
    BOX_COLUMNS, MESH_COLUMNS, PROBA_COLUMNS, VIDEO_COLUMNS, result_columns, table_from_parts,
)
from meshfer.runtime import (
    ExpressionModel,
    InferenceModel,
    ModelLoadError,
    available_approaches,
    bundled_models_dir,
    default_approach,
    load_expression_model,
    load_model,
)
from meshfer.scores import NO_FACE_INDEX, confusion_counts, per_class_report, split_metrics
from meshfer.video import FaceTracks, VideoEndedEarly, frame_count, most_prominent, read_frames

log = logging.getLogger(__name__)

EYES_APPROACH = "eyes"


@dataclass
class Faces:
    """What one image gave, as numpy arrays, faces in order (0 = most confident): the fastest way to use the
    predictions in a loop on a small CPU, where building a pandas table per image costs 0.2-0.9 ms.
    ``to_frame()`` gives the table :meth:`Recognizer.predict` returns."""

    meshes: list[FaceMesh]
    proba: np.ndarray  # (faces, expressions): EXPRESSIONS' order
    eyes: np.ndarray | None  # (faces, 2, eye states): the subject's left eye, then right; None without the eye model

    def __len__(self) -> int:
        return len(self.meshes)

    @property
    def boxes(self) -> np.ndarray:
        """(faces, 4): x_min, y_min, x_max, y_max in the input's pixels."""
        return np.array([f.bbox for f in self.meshes]).reshape(len(self), 4)

    @property
    def expressions(self) -> list[str]:
        return [EXPRESSIONS[i] for i in self.proba.argmax(axis=1)]

    @property
    def eye_states(self) -> list[tuple[str, str]] | None:
        """Per face (left eye, right eye) of the subject."""
        if self.eyes is None:
            return None
        return [(EYE_STATES[left], EYE_STATES[right]) for left, right in self.eyes.argmax(axis=2)]

    @property
    def openness(self) -> np.ndarray | None:
        """(faces, 2): left and right eye, 0 closed .. 1 wide."""
        return None if self.eyes is None else self.eyes @ np.asarray(EYE_OPENNESS)

    def column_values(self, return_mesh: bool = False, face_ids: np.ndarray | None = None) -> dict[str, Any]:
        """{column name: one value per face}: the table's columns (named by :attr:`Recognizer.columns`) with their
        values, before any table is built; ``face_ids`` numbers the faces (default 0, 1, ...)."""
        n = len(self)
        columns: dict[str, Any] = {"face": np.arange(n) if face_ids is None else face_ids}
        columns.update(zip(BOX_COLUMNS, self.boxes.T))
        columns["expression"] = np.array(EXPRESSIONS, dtype=object)[self.proba.argmax(axis=1)]
        columns["expression_score"] = self.proba.max(axis=1)
        columns.update(zip(PROBA_COLUMNS, self.proba.T))
        if self.eyes is not None:
            states = np.array(EYE_STATES, dtype=object)
            for k, side in enumerate(("left", "right")):
                columns[f"{side}_eye"] = states[self.eyes[:, k].argmax(axis=1)]
            for k, side in enumerate(("left", "right")):
                columns[f"{side}_eye_openness"] = self.openness[:, k]
        if return_mesh:
            columns["landmarks"] = [f.points for f in self.meshes]
            columns["blendshapes"] = [dict(zip(mesh.BLENDSHAPE_NAMES, f.blendshapes.tolist())) for f in self.meshes]
        return columns

    def records(self, return_mesh: bool = False) -> list[dict[str, Any]]:
        """One JSON-ready dict per face, with the keys of the table's columns (what ``meshfer predict --json``
        writes for an image, without ``path`` and ``error``), built without pandas."""
        columns = self.column_values(return_mesh)
        return [{name: json_value(values[i]) for name, values in columns.items()} for i in range(len(self))]

    def to_frame(self, return_mesh: bool = False) -> pd.DataFrame:
        columns = result_columns(eyes=self.eyes is not None)
        return table_from_parts([self.column_values(return_mesh)], columns + (MESH_COLUMNS if return_mesh else []))


class Recognizer:
    """Face meshes in, expressions and eye states out.

    Parameters
    ----------
    approach: an expression approach in ``models_dir``: the package ships ``gnn``, ``mesh_hgb``, ``aligned_cnn`` and
        ``ensemble`` (those fast enough to serve); a pipeline's ``models/serving`` also has ``pca_svm``,
        ``blendshape_svm`` and ``mesh_svm``. None serves the folder's default (the package's: the best on
        validation among those it ships).
    models_dir: a pipeline's ``models/serving`` folder; None uses the models shipped in the package.
    eyes: also rate each eye's closeness (needs the ``eyes`` model).
    num_faces: at most this many faces per image.
    landmarker_model: the face_landmarker.task to use instead of the bundled copy; it must be the same file
        (same SHA-256) unless ``unsafe_landmarker=True``, which accepts another landmarker at your own risk (the
        models were trained on the bundled one's meshes).
    threads: onnxruntime threads per model (1 suits one image at a time on a small CPU).
    """

    def __init__(
        self,
        approach: str | None = None,
        models_dir: str | os.PathLike | None = None,
        eyes: bool = True,
        num_faces: int = 4,
        landmarker_model: str | os.PathLike | None = None,
        unsafe_landmarker: bool = False,
        detect_config: DetectConfig | None = None,
        threads: int = 1,
        max_megapixels: float = MAX_PIXELS / 1e6,
    ):
        if int(num_faces) < 1:
            raise ValueError(f"num_faces must be at least 1, not {num_faces}")
        if not max_megapixels > 0:
            raise ValueError(f"max_megapixels must be above 0, not {max_megapixels}")
        self.max_pixels = int(max_megapixels * 1e6)  # larger image files are refused from their header
        # Kept so that worker processes can build the same recognizer (predict_many with n_jobs).
        self._settings = dict(approach=approach, models_dir=models_dir, eyes=eyes, num_faces=num_faces,
                              landmarker_model=landmarker_model, unsafe_landmarker=unsafe_landmarker,
                              detect_config=detect_config, threads=threads, max_megapixels=max_megapixels)
        self.models_dir = Path(models_dir) if models_dir else bundled_models_dir()
        known = available_approaches(self.models_dir)
        if not known:
            raise ModelLoadError(f"no expression model in {self.models_dir}")
        self.approach = approach or default_approach(self.models_dir)
        if self.approach not in known:
            raise ValueError(f"unknown approach {self.approach!r}; {self.models_dir} has {', '.join(known)}")
        self.expression: ExpressionModel = load_expression_model(self.models_dir, self.approach, threads)
        self.eye_model: InferenceModel | None = load_model(self.models_dir / EYES_APPROACH, threads) if eyes else None
        # Detect as the models' training did, so served meshes are made the way training meshes were.
        config = detect_config or DetectConfig.from_params({**self.expression.detect_config, "num_faces": num_faces})
        self.landmarker = Landmarker(config, landmarker_model, unsafe_model=unsafe_landmarker)

    def __enter__(self) -> "Recognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.landmarker.close()

    def variant(self, approach: str | None = None, eyes: bool | None = None) -> "Recognizer":
        """This recognizer with another expression approach and/or without the eye model, sharing this one's
        landmarker and loaded models: cheap, for a service that lets each request choose. Close only the original
        (a variant's ``close`` closes the shared landmarker)."""
        other = copy.copy(self)
        if approach is not None and approach != self.approach:
            known = available_approaches(self.models_dir)
            if approach not in known:
                raise ValueError(f"unknown approach {approach!r}; {self.models_dir} has {', '.join(known)}")
            other.approach = approach
            other.expression = load_expression_model(self.models_dir, approach, self._settings["threads"])
            if other.expression.detect_config != self.expression.detect_config:
                raise ValueError(f"approach {approach!r} detects faces differently from {self.approach!r}; "
                                 "use a Recognizer of its own")
        if eyes is not None and not eyes:
            other.eye_model = None
        elif eyes and self.eye_model is None:
            other.eye_model = load_model(self.models_dir / EYES_APPROACH, self._settings["threads"])
        return other

    @property
    def columns(self) -> list[str]:
        """The result columns of :meth:`predict` (without ``return_mesh``)."""
        return result_columns(eyes=self.eye_model is not None)

    # --- one image -------------------------------------------------------------------------------------------
    def predict(self, image: Any, channel_order: str = "RGB", return_mesh: bool = False) -> pd.DataFrame:
        """One row per face (0 = most confident): box, expression and its probabilities, each eye's state and
        openness (0 closed .. 1 wide); an empty table when no face is found.

        ``image`` is a path, a numpy array (gray, RGB(A), or BGR(A) with ``channel_order="BGR"``; uint8, uint16 or
        float) or a PIL image. Unreadable input raises :class:`meshfer.imageio.ImageReadError`.
        """
        return self.predict_faces(image, channel_order).to_frame(return_mesh)

    def predict_faces(self, image: Any, channel_order: str = "RGB") -> Faces:
        """What :meth:`predict` says, as numpy arrays (no pandas table): see :class:`Faces`."""
        return self._analyse(self._rgb(image, channel_order))

    def _rgb(self, image: Any, channel_order: str = "RGB") -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            if is_video_path(image):
                raise ImageReadError(image, "a video: use predict_video() (or predict_many() for images)")
            rgb = read_rgb(image, self.max_pixels)
            if Path(image).suffix.lower() in ANIMATED_SUFFIXES:
                _note_if_animated(Path(image))
            return rgb
        return to_rgb(image, channel_order)

    def _analyse(self, rgb: np.ndarray) -> Faces:
        meshes = self.landmarker.detect(rgb)
        if not meshes:
            return Faces([], np.zeros((0, len(EXPRESSIONS))), None if self.eye_model is None else
                         np.zeros((0, 2, len(EYE_STATES))))
        batch = MeshBatch(np.stack([f.points for f in meshes]), np.stack([f.blendshapes for f in meshes]),
                          np.stack([f.pose for f in meshes]), [rgb] * len(meshes))
        return Faces(meshes, self.expression.predict_proba_meshes(batch), self.eye_probabilities(batch))

    def eye_probabilities(self, batch: MeshBatch) -> np.ndarray | None:
        """The eye model's step alone, on meshes found already: (faces, 2, eye states), the subject's left eye then
        right, as :attr:`Faces.eyes` holds them; None without the eye model."""
        if self.eye_model is None:
            return None
        per_contour = self.eye_model.predict_proba(compute_features(batch, self.eye_model.card.feature_params))
        # The model rates the mesh's left eye contour, then its right; results name the subject's own eyes.
        contour_of = {subject: contour for contour, subject in mesh.SUBJECT_SIDE.items()}
        return per_contour[:, [("left", "right").index(contour_of[side]) for side in ("left", "right")]]

    # --- many images -----------------------------------------------------------------------------------------
    def predict_many(self, sources: str | os.PathLike | Iterable[str | os.PathLike], progress: bool | None = None,
                     return_mesh: bool = False, n_jobs: int = 1) -> pd.DataFrame:
        """Every image of the given files and folders (recursively; a single path is taken as one): one row per
        face, and a row with ``error`` for each file that could not be read or had no face
        (``error="no face found"``), and for each path that gave no image (missing, a folder without one), so
        nothing is lost silently. ``progress`` shows a bar on stderr (None: when
        stderr is a terminal and there are many).
        ``n_jobs`` > 1 shares the files between this process and ``n_jobs - 1`` worker processes (-1: as many as
        there are cores); the rows come back in the same order."""
        from tqdm.auto import tqdm

        paths = list(expand_images([sources] if isinstance(sources, (str, os.PathLike)) else sources))
        jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
        chunks = [paths[i:i + WORKER_CHUNK] for i in range(0, len(paths), WORKER_CHUNK)]
        if jobs == 1 or len(chunks) < 2:
            finished = ((i, [self.image_columns(path, return_mesh)]) for i, path in enumerate(paths))
        else:
            finished = _shared_with_workers(self, chunks, return_mesh, jobs - 1)
        done: dict[int, list[dict[str, Any]]] = {}  # position -> the column dicts of its files, as they finish
        with tqdm(total=len(paths), desc="images", unit="img", disable=_no_bar(progress, len(paths))) as bar:
            for index, columns in finished:
                done[index] = columns
                bar.update(len(columns))
        parts = [part for index in sorted(done) for part in done[index]]
        return table_from_parts(parts, ["path", *self.columns, *(MESH_COLUMNS if return_mesh else []), "error"])

    def image_columns(self, path: Path | str | InputProblem, return_mesh: bool = False,
                      source: str | os.PathLike | Callable[[], np.ndarray] | None = None) -> dict[str, Any]:
        """One image's rows as columns (name -> one value per face, or one row with ``error``), ``path`` as given:
        what :meth:`predict_many` and the Dask batch put together with ``table_from_parts``. ``source``, if given,
        is what is decoded instead of ``path``: a local file, or a function that returns the RGB image (e.g.
        fetched from a URL)."""
        if isinstance(path, InputProblem):
            return {"path": [path.given], "error": [path.why]}
        try:
            faces = self._analyse(source() if callable(source) else self._rgb(path if source is None else source))
        except ImageReadError as err:
            return {"path": [str(path)], "error": [err.reason]}
        if not faces.meshes:
            return {"path": [str(path)], "error": [NO_FACE_ERROR]}
        columns = faces.column_values(return_mesh)
        return {"path": [str(path)] * len(faces.meshes), **columns, "error": [""] * len(faces.meshes)}

    # --- video -----------------------------------------------------------------------------------------------
    def stream(self, source: str | os.PathLike | int, smoothing: int = 1, max_frames: int | None = None,
               return_mesh: bool = False, eye_window_s: float = 60.0) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(table, BGR frame) per frame of a video file or camera, as it comes: one row per face, ``face``
        numbered consistently across frames, probabilities averaged over each face's last ``smoothing`` frames;
        an empty table for a frame with no face. With the eye model, ``table.attrs["eye_events"]`` holds the eye
        events (blinks, PERCLOS, ...; :func:`meshfer.eye_events.eye_events`) of the most prominent face over the
        last ``eye_window_s`` seconds."""
        columns = [*VIDEO_COLUMNS, *self.columns, *(MESH_COLUMNS if return_mesh else [])]
        live = LiveEyeEvents(eye_window_s) if "left_eye" in self.columns else None
        for part, _, timestamp_ms, bgr in self._video(source, smoothing, max_frames, return_mesh):
            table = table_from_parts([part], columns)
            if live is not None:
                prominent = most_prominent(table)
                table.attrs["eye_events"] = live.update(
                    timestamp_ms, *((None, None) if prominent is None else
                                    (table.at[prominent, "left_eye"], table.at[prominent, "right_eye"])))
            yield table, bgr

    def predict_video(self, source: str | os.PathLike | int, smoothing: int = 1, max_frames: int | None = None,
                      return_mesh: bool = False, progress: bool | None = None, on_frame=None) -> pd.DataFrame:
        """Every frame of a video: one row per face with ``frame`` and ``timestamp_ms``, and a row with
        ``error="no face found"`` for a frame without one. ``on_frame(table, bgr)``, if given, sees each frame
        (e.g. to draw it). See :func:`meshfer.video.video_summary` and :func:`meshfer.video.plot_timeline` for
        the video's summary and its picture."""
        from tqdm.auto import tqdm

        total = frame_count(source) if not isinstance(source, int) else None
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        frame_columns = [*VIDEO_COLUMNS, *self.columns, *(MESH_COLUMNS if return_mesh else [])]
        parts = []
        with tqdm(total=total, desc="frames", unit="frame", disable=_no_bar(progress, total or 0)) as bar:
            try:
                for part, frame_no, timestamp_ms, bgr in self._video(source, smoothing, max_frames, return_mesh):
                    if on_frame is not None:
                        on_frame(table_from_parts([part], frame_columns), bgr)
                    n = len(part["face"])
                    parts.append({**part, "error": [""] * n} if n else
                                 {"frame": [frame_no], "timestamp_ms": [timestamp_ms], "error": [NO_FACE_ERROR]})
                    bar.update()
            except VideoEndedEarly as err:  # keep what was read; a last row, with no frame, says what is missing
                parts.append({"error": [err.reason]})
        return table_from_parts(parts, [*frame_columns, "error"])

    def _video(self, source, smoothing: int, max_frames: int | None, return_mesh: bool):
        tracks = FaceTracks(smoothing)
        for frame_no, timestamp_ms, bgr in read_frames(source, max_frames):
            faces = self._analyse(to_rgb(bgr, "BGR"))
            ids, faces.proba = tracks.update(faces.boxes, faces.proba)
            n = len(faces.meshes)
            part = {"frame": [frame_no] * n, "timestamp_ms": [timestamp_ms] * n,
                    **faces.column_values(return_mesh, ids)}
            yield part, frame_no, timestamp_ms, bgr


ANIMATED_SUFFIXES = {".gif", ".webp"}


def _note_if_animated(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        frames = getattr(img, "n_frames", 1)
    if frames > 1:
        log.warning("%s: an animation of %d frames; only its first frame is scored (convert it to a video "
                       "for all of them)", path, frames)


WORKER_CHUNK = 32  # images a worker process takes at a time
_WORKER: dict[str, Recognizer] = {}


def _shared_with_workers(recognizer: Recognizer, chunks: list[list[Path]], return_mesh: bool, workers: int):
    """(chunk index, its column dicts) as they finish. The workers take chunks from the front while they start
    (a second or so: imports and models), this process, whose models are loaded already, from the back, taking
    only chunks no worker has begun. Workers are spawned, not forked: this process runs MediaPipe's and
    onnxruntime's threads, which a fork would copy half-way."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(recognizer._settings,))
    try:
        futures = [pool.submit(_worker_chunk, chunk, return_mesh) for chunk in chunks]
        index_of = {future: index for index, future in enumerate(futures)}
        for index in reversed(range(len(chunks))):
            if not futures[index].cancel():  # a worker has it: the rest are the workers' too
                break
            yield index, [recognizer.image_columns(path, return_mesh) for path in chunks[index]]
        for future in as_completed([f for f in futures if not f.cancelled()]):
            yield index_of[future], future.result()
    finally:  # on Ctrl-C or an error, drop the chunks not begun rather than wait for them
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(settings: dict) -> None:
    _WORKER["recognizer"] = Recognizer(**settings)


def _worker_chunk(paths: list[Path], return_mesh: bool) -> list[dict[str, Any]]:
    return [_WORKER["recognizer"].image_columns(path, return_mesh) for path in paths]


def _no_bar(progress: bool | None, count: int) -> bool | None:
    """tqdm's ``disable``: shown when asked; by default (None) only for many items and when stderr is a terminal."""
    if progress is None:
        return None if count >= 20 else True
    return not progress


class InputProblem(NamedTuple):
    """An input that gives no image (a path that does not exist, a folder without one): it gets a row saying so."""

    given: str
    why: str


def expand_images(sources: Iterable[str | os.PathLike]) -> list[Path | InputProblem]:
    """Files as given; folders expanded to their images (recursively, sorted; files without a suffix are taken
    when their header is an image's) and their special files (a FIFO, a device: never opened, they get a row
    saying what they are). Each file once. A missing path or a folder without an image stays, as an
    :class:`InputProblem` (the words are the command line's)."""
    items: list[Path | InputProblem] = []
    for source in sources:
        path = Path(source)
        if not path.exists() and not path.is_symlink():
            items.append(InputProblem(str(source), "no such file or folder"))
        elif path.is_dir():
            contents = folder_contents(path)
            found = sorted(contents.images + [p for p in contents.skipped if not p.is_file()])
            items += found or [InputProblem(str(source), "no images in this folder")]
        else:
            items.append(path)
    return unique(items)


def evaluate_folder(recognizer: Recognizer, root: str | os.PathLike, aliases: dict[str, str] | None = None,
                    progress: bool | None = None) -> dict:
    """Score a recogniser on any labelled image set laid out as ``root/<label>/*`` (a cross-dataset check).

    The most confident face of each image counts; an image with no face counts as wrong, as in the pipeline.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    aliases = aliases or EXPRESSION_FOLDER_ALIASES
    found = labelled_images(root, aliases)
    if not found.pairs:
        raise ValueError(f"{root}: no images in folders named after labels; known folder names: "
                         f"{sorted(aliases)} (unknown here: {found.unknown_folders})")
    table = recognizer.predict_many([path for path, _ in found.pairs], progress=progress)
    first = table[table["error"] == ""].drop_duplicates("path").set_index("path")["expression"]
    y_true = np.array([EXPRESSIONS.index(label) for _, label in found.pairs])
    y_pred = np.array([EXPRESSIONS.index(first[str(p)]) if str(p) in first.index else NO_FACE_INDEX
                       for p, _ in found.pairs])
    errors = table.loc[table["error"] != "", "error"].value_counts().to_dict()
    confusion = confusion_counts(y_true, y_pred, len(EXPRESSIONS))  # the last column: no face
    return {"root": str(root), "approach": recognizer.approach, **split_metrics(y_true, y_pred, EXPRESSIONS),
            "per_class": per_class_report(y_true, y_pred, EXPRESSIONS), "errors": errors,
            "confusion": {"rows_true": list(EXPRESSIONS), "columns_predicted": [*EXPRESSIONS, NO_FACE_LABEL],
                          "counts": confusion.tolist()},
            "unknown_folders": found.unknown_folders, "empty_folders": found.empty_folders}

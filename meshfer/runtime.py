"""The serving runtime: a model directory (``model.onnx`` + ``card.json``) run by onnxruntime.

Every trained model, whatever trained it, is exported by the pipeline to one ONNX file whose graph holds the
whole model after the feature function: scaling, PCA, the classifier, or the network. Loading it runs no code
from the file. Serving needs nothing of the training stack.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from meshfer.card import CARD_FILE, ONNX_FILE, EnsembleCard, ModelCard, ModelLoadError, read_card, sha256_of
from meshfer.features import MeshBatch, compute_features
from meshfer.scores import validation_accuracy

log = logging.getLogger(__name__)

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
SERVING_FILE = "serving.json"  # in a models folder: which approach the Recognizer serves by default


class InferenceModel:
    """One exported model. ``predict_proba`` takes feature rows (float32) and returns the probabilities, (N, labels)
    — for the eyes model (N, 2, labels): the mesh's left eye contour, then its right."""

    def __init__(self, card: ModelCard, session, directory: Path):
        self.card, self.session, self.directory = card, session, directory

    @property
    def approach(self) -> str:
        return self.card.approach

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim == 1:
            X = X[None]
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: X})[0]


def onnxruntime():
    """The ``onnxruntime`` module, its telemetry events off (``ORT_DISABLE_TELEMETRY``, set by ``import meshfer``,
    already keeps its uploader and device id from starting; this is the API's own switch on top)."""
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


def session_options(threads: int = 1):
    """One intra-op thread by default: a batch of one face gains nothing from more, and on a busy or small CPU
    thread start-up and contention cost more than the model itself."""
    ort = onnxruntime()

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's business
    return options


def load_model(directory: str | Path, threads: int = 1) -> InferenceModel:
    """Load an exported model directory, refusing anything this code cannot serve correctly."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"no model directory at {directory}")
    card = ModelCard.read(directory / CARD_FILE)
    card.check_compatible(directory)
    return InferenceModel(card, _session(directory / card.format, card.file_sha256, threads), directory)


def _session(path: Path, sha256: str, threads: int):
    ort = onnxruntime()

    if path.name != ONNX_FILE or not path.is_file():
        raise ModelLoadError(f"no model file at {path} (this meshfer serves exported ONNX models; "
                             f"run the pipeline's export stage)")
    if sha256 and sha256_of(path) != sha256:
        raise ModelLoadError(f"{path} does not match the SHA-256 on its card: the file is damaged or was replaced")
    try:
        session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable graphs
        raise ModelLoadError(f"{path} could not be loaded ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if INPUT_NAME not in names[0] or OUTPUT_NAME not in names[1]:
        raise ModelLoadError(f"{path} has inputs {names[0]} and outputs {names[1]}, not '{INPUT_NAME}' -> "
                             f"'{OUTPUT_NAME}'")
    return session


class ExpressionModel:
    """What an approach serves: one model, or an ensemble of members whose probabilities are averaged or fed to a
    learned combiner. ``predict_proba_meshes`` takes face meshes (each member makes its own features from them) and
    returns (faces, expressions); an :class:`InferenceModel`'s ``predict_proba`` takes feature rows."""

    def __init__(self, approach: str, members: list[InferenceModel], combiner=None):
        self.approach, self.members, self.combiner = approach, members, combiner

    @property
    def detect_config(self) -> dict:
        """The detection settings the models were trained with (served meshes must be made the same way)."""
        return self.members[0].card.data.get("detect_config", {})

    def predict_proba_meshes(self, batch: MeshBatch) -> np.ndarray:
        return self.combine([m.predict_proba(compute_features(batch, m.card.feature_params)) for m in self.members])

    def combine(self, probas: list[np.ndarray]) -> np.ndarray:
        """The approach's probabilities from its members' (in member order)."""
        if len(probas) == 1:
            return probas[0]
        if self.combiner is not None:
            return self.combiner.run([OUTPUT_NAME], {INPUT_NAME: np.hstack(probas).astype(np.float32)})[0]
        return np.mean(probas, axis=0)


def bundled_models_dir() -> Path:
    """The models that ship inside the package (the pipeline's `bundle` stage puts them there)."""
    from importlib import resources

    return Path(str(resources.files("meshfer") / "assets" / "models"))


def available_approaches(models_dir: str | Path) -> list[str]:
    """The expression approaches in a models folder: sub-folders whose card says task 'expression'."""
    root = Path(models_dir)
    cards = sorted(root.glob(f"*/{CARD_FILE}")) if root.is_dir() else []
    return [c.parent.name for c in cards if _task_of(c) == "expression"]


def _task_of(card_path: Path) -> str:
    try:
        return read_card(card_path).task
    except ModelLoadError:
        return ""


def default_approach(models_dir: str | Path) -> str:
    """The approach a models folder names as its default (``serving.json``, written by the pipeline), else the
    one with the best validation accuracy."""
    root = Path(models_dir)
    spec = root / SERVING_FILE
    if spec.is_file():
        try:
            return json.loads(spec.read_text(encoding="utf-8"))["default_approach"]
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(f"{spec} is not readable ({type(err).__name__}: {err})") from None
    candidates = available_approaches(root)
    if not candidates:
        raise ModelLoadError(f"no expression model in {root}")
    return max(candidates, key=lambda a: validation_accuracy(read_card(root / a / CARD_FILE).metrics))


def load_expression_model(models_dir: str | Path, approach: str, threads: int = 1) -> ExpressionModel:
    root = Path(models_dir)
    card = read_card(root / approach / CARD_FILE)
    if not isinstance(card, EnsembleCard):
        return ExpressionModel(approach, [load_model(root / approach, threads)])
    members = [load_model(root / name, threads) for name in card.members]
    combiner = None
    if card.combiner != "mean":
        combiner = _session(root / approach / card.combiner, card.file_sha256, threads)
    return ExpressionModel(approach, members, combiner)

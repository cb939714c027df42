"""Training wing: scikit-learn/mord estimators built from params, and the native storage of trained models
(skops for estimators, no pickle; Keras for networks) that the export stage turns into ONNX."""
from __future__ import annotations

import logging
import platform
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from meshfer.card import CARD_FILE, ModelCard, ModelLoadError

log = logging.getLogger(__name__)

SKOPS_FILE = "model.skops"
KERAS_FILE = "model.keras"


class PerEyeClassifier(ClassifierMixin, BaseEstimator):
    """Fits one sample per eye; a face's row holds both eyes' features side by side.

    ``predict_proba`` on a face averages its two eyes; ``predict_proba_per_eye`` keeps them apart.
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def _stack(self, X: np.ndarray) -> np.ndarray:
        half = X.shape[1] // 2
        return np.vstack([X[:, :half], X[:, half:]])

    def fit(self, X, y):
        self.estimator_ = fit_quietly(clone(self.estimator), self._stack(np.asarray(X)), np.concatenate([y, y]))
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba_per_eye(self, X) -> np.ndarray:
        """(N, 2, n_classes): left eye, right eye."""
        proba = self.estimator_.predict_proba(self._stack(np.asarray(X)))
        return np.stack(np.split(proba, 2), axis=1)

    def predict_proba(self, X) -> np.ndarray:
        return self.predict_proba_per_eye(X).mean(axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _logistic_at(params: dict):
    import mord

    return mord.LogisticAT(alpha=params.get("alpha", 1.0), max_iter=params.get("max_iter", 1000))


def _svc(params: dict) -> SVC:
    # Probabilities from libsvm's own Platt scaling with pairwise coupling (probability=True). The replacement
    # that scikit-learn 1.9 suggests, CalibratedClassifierCV(SVC(), ensemble=False), calibrates the one-vs-rest
    # decision values instead and cost 1.9 points of test accuracy on pca_svm (54.8 % vs 56.7 %), so the
    # deprecated option stays while requirements.txt pins scikit-learn 1.9 (see fit_quietly).
    return SVC(
        C=params["C"],
        kernel=params.get("kernel", "rbf"),
        gamma=params.get("gamma", "scale"),
        degree=params.get("degree", 3),
        class_weight=params.get("class_weight") or None,
        probability=True,
        random_state=params["seed"],
    )


def fit_quietly(estimator, X, y):
    """Fit, silencing only scikit-learn 1.9's deprecation notice for SVC(probability=True) (see _svc)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The `probability` parameter was deprecated",
                                category=FutureWarning)
        return estimator.fit(X, y)


def _logreg(params: dict) -> LogisticRegression:
    return LogisticRegression(C=params.get("C", 1.0), max_iter=params.get("max_iter", 2000),
                              random_state=params["seed"])


def _hgb(params: dict) -> HistGradientBoostingClassifier:
    # Early stopping holds out a seeded share of the *training* split, never the validation split.
    return HistGradientBoostingClassifier(
        learning_rate=params.get("learning_rate", 0.1), max_iter=params.get("max_iter", 400),
        max_leaf_nodes=params.get("max_leaf_nodes", 31), l2_regularization=params.get("l2_regularization", 0.0),
        early_stopping=True, validation_fraction=params.get("validation_fraction", 0.1),
        class_weight=params.get("class_weight") or None, random_state=params["seed"],
    )


CLASSIFIERS = {"svm": _svc, "logistic_at": _logistic_at, "logreg": _logreg, "hgb": _hgb}


def build_estimator(params: dict):
    """StandardScaler -> optional PCA -> the classifier named by ``params['kind']``.

    With ``pca_columns`` only the first columns (the mesh coordinates) are compressed and the rest (blendshapes)
    are scaled and kept. The column split comes first so that the exported ONNX graph keeps the input's rank
    (skl2onnx 1.20 loses it when a ColumnTransformer follows a scaler); scaling column by column inside each
    branch is the same function as one scaler in front.
    """
    try:
        classifier = CLASSIFIERS[params["kind"]](params)
    except KeyError:
        raise ValueError(f"unknown model kind {params['kind']!r}; known: {sorted(CLASSIFIERS)}") from None
    steps = [("scale", StandardScaler())]
    if params.get("pca_components"):
        pca = PCA(n_components=params["pca_components"], random_state=params["seed"])
        split = params.get("pca_columns")
        if split:
            coords = Pipeline([("scale", StandardScaler()), ("pca", pca)])
            steps = [("columns", ColumnTransformer([("coords", coords, slice(0, split))],
                                                   remainder=StandardScaler()))]
        else:
            steps.append(("pca", pca))
    steps.append(("classify", classifier))
    pipeline = Pipeline(steps)
    return PerEyeClassifier(pipeline) if params.get("per_eye_samples") else pipeline


def library_versions() -> dict[str, str]:
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__}


# The only types a meshfer skops file may contain beyond skops' own defaults; anything else is refused.
TRUSTED_TYPES = [
    "meshfer.training.estimators.PerEyeClassifier",
    "mord.threshold_based.LogisticAT",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.svm._classes.SVC",
]


def save_sklearn(model: Any, directory: Path) -> None:
    import skops.io as sio

    sio.dump(model, directory / SKOPS_FILE, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def load_sklearn(directory: Path) -> Any:
    import skops.io as sio

    path = directory / SKOPS_FILE
    if not path.is_file():
        raise ModelLoadError(f"no model file at {path}")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except Exception as err:  # a damaged archive fails here with zipfile/json errors
        raise ModelLoadError(f"{path} is not a readable skops model ({type(err).__name__}: {err})") from None
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelLoadError(f"{path} contains types meshfer does not trust: {unexpected}")
    try:
        return sio.load(path, trusted=sorted(untrusted))
    except Exception as err:
        raise ModelLoadError(f"{path} could not be loaded ({type(err).__name__}: {err})") from None


@dataclass
class TrainedModel:
    """A fitted estimator or network, as training made it, with its card; ``predict_proba`` always has one
    column per card label. The export stage turns it into the ONNX file that serving loads."""

    card: ModelCard
    estimator: Any

    @property
    def classes(self) -> np.ndarray:
        """Label indices of the probability columns (a class absent from the training data has none)."""
        return np.asarray(self.estimator.classes_, dtype=int)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        if len(self.classes) == len(self.card.labels):
            return proba
        full = np.zeros((len(proba), len(self.card.labels)))  # a class absent from training gets 0
        full[:, self.classes] = proba
        return full

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.card.format == KERAS_FILE:
            from meshfer.training.networks import save_keras

            save_keras(self.estimator.model, directory / KERAS_FILE)
        else:
            save_sklearn(self.estimator, directory)
        self.card.write(directory)


def load_trained(directory: str | Path) -> TrainedModel:
    """Load what a train stage wrote (card + skops or Keras file), refusing untrusted content."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"no model directory at {directory}")
    card = ModelCard.read(directory / CARD_FILE)
    card.check_compatible(directory)
    if card.format == KERAS_FILE:
        from meshfer.training.networks import load_keras

        if not (directory / KERAS_FILE).is_file():
            raise ModelLoadError(f"no model file at {directory / KERAS_FILE}")
        try:
            return TrainedModel(card, load_keras(directory / KERAS_FILE))
        except Exception as err:
            raise ModelLoadError(f"{directory / KERAS_FILE} could not be loaded ({type(err).__name__}: {err})"
                                 ) from None
    return TrainedModel(card, load_sklearn(directory))

"""Training wing: the scikit-learn framework (model kinds svm, hgb, logreg, logistic_at; see model_kinds): the
estimator built from params (scaling, optional PCA, the classifier of meshfer.training.classifiers, per-eye
samples), fitted, and stored as skops (no pickle) for the export stage to turn into ONNX."""
from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from meshfer.card import ModelLoadError
from meshfer.training.classifiers import CLASSIFIERS

log = logging.getLogger(__name__)

FORMAT = SKOPS_FILE = "model.skops"
LOGS_EPOCHS = False  # fitted in one go: meshfer.training.fitting logs its accuracy once


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


def fit_quietly(estimator, X, y):
    """Fit, silencing only scikit-learn 1.9's deprecation notice for SVC(probability=True) (see _svc)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The `probability` parameter was deprecated",
                                category=FutureWarning)
        return estimator.fit(X, y)


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


def fit_model(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, n_labels: int, params: dict,
              live_dir: Path | None = None) -> tuple[Any, dict]:
    """The framework's fit (see meshfer.training.model_kinds): validation plays no part in fitting an estimator."""
    return fit_quietly(build_estimator(params), X, y), {}


def save_model(estimator: Any, directory: Path) -> None:
    save_sklearn(estimator, directory)


def load_model(directory: Path, kind: str) -> Any:
    return load_sklearn(directory)

"""Training wing: the scikit-learn and mord classifiers a model kind names (``<approach>.model.kind``); the
framework around them (scaling, PCA, per-eye samples, storage) is meshfer.training.estimators."""
from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC


def _logistic_at(params: dict):
    import mord

    return mord.LogisticAT(alpha=params.get("alpha", 1.0), max_iter=params.get("max_iter", 1000))


def _svc(params: dict) -> SVC:
    # Probabilities from libsvm's own Platt scaling with pairwise coupling (probability=True). The replacement
    # that scikit-learn 1.9 suggests, CalibratedClassifierCV(SVC(), ensemble=False), calibrates the one-vs-rest
    # decision values instead and cost 1.9 points of test accuracy on pca_svm (54.8 % vs 56.7 %), so the
    # deprecated option stays while requirements.txt pins scikit-learn 1.9 (see
    # meshfer.training.estimators.fit_quietly).
    return SVC(
        C=params["C"],
        kernel=params.get("kernel", "rbf"),
        gamma=params.get("gamma", "scale"),
        degree=params.get("degree", 3),
        class_weight=params.get("class_weight") or None,
        probability=True,
        random_state=params["seed"],
    )


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

"""Training wing: ensembles over the members' saved per-image probabilities (``data/predictions``).

Two ways to combine members are compared, on validation only: soft voting (the mean of their probabilities)
and stacking (a multinomial logistic regression on their log-probabilities). Stacking is fitted on validation,
so it is scored by cross-fitting: fitted on k-1 folds of validation, scored on the remaining fold, every fold in
turn; soft voting is scored on the same images. The best subset and combiner is served; test data plays no part.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from meshfer.labels import EXPRESSIONS, probability_columns
from meshfer.training.feature_table import TEST_WITHOUT_NEAR_COPIES
from meshfer.training.scoring import decide

PROBA = probability_columns(EXPRESSIONS)
EPS = 1e-6


@dataclass
class Stacked:
    """The candidates' probabilities for the same images: ``proba`` (images, members, labels), NaN rows where no
    face was found; ``y`` the label index per image; ``split`` per image."""

    members: list[str]
    proba: np.ndarray
    y: np.ndarray
    split: np.ndarray
    path: np.ndarray
    near_copy: np.ndarray  # per image: a copy of a training image (not in test_unseen)

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame]) -> "Stacked":
        names = list(tables)
        first = tables[names[0]]
        for name in names[1:]:
            if not (tables[name]["path"].to_numpy() == first["path"].to_numpy()).all():
                raise ValueError("ensemble members were evaluated on different images; re-run their evaluate stages")
        proba = np.stack([tables[n][PROBA].to_numpy(float) for n in names], axis=1)
        y = first["actual"].map({name: i for i, name in enumerate(EXPRESSIONS)}).to_numpy(int)
        return cls(names, proba, y, first["split"].to_numpy(str), first["path"].to_numpy(str),
                   first["near_copy"].to_numpy(bool))

    def subset(self, members: Sequence[str], split: str | None = None) -> "Stacked":
        keep = [self.members.index(m) for m in members]
        rows = slice(None) if split is None else self.split == split
        return Stacked(list(members), self.proba[rows][:, keep], self.y[rows], self.split[rows], self.path[rows],
                       self.near_copy[rows])

    def split_masks(self) -> dict[str, np.ndarray]:
        """The images of each reported split: validation, test and test_unseen (test without copies)."""
        test = self.split == "test"
        return {"validation": self.split == "validation", "test": test,
                TEST_WITHOUT_NEAR_COPIES: test & ~self.near_copy}

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.proba[:, :, 0]).any(axis=1)


def mean_proba(data: Stacked) -> np.ndarray:
    return data.proba.mean(axis=1)


def stacking_inputs(proba: np.ndarray) -> np.ndarray:
    """(images, members * labels): the members' probabilities side by side, as the served combiner receives them."""
    return proba.reshape(len(proba), -1)


def build_stacker(params: dict):
    """Log-probabilities -> multinomial logistic regression (its ONNX graph: Clip, Log, then the regression)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("log", FunctionTransformer(_log, feature_names_out="one-to-one")),
                     ("logreg", LogisticRegression(C=params.get("C", 1.0), max_iter=2000))])


def _log(X):
    return np.log(np.clip(X, EPS, 1.0))


def training_priors(manifest: pd.DataFrame) -> np.ndarray:
    """Each expression's share of the training split's original images (augmented copies balance classes on
    purpose; the shares a test set has are the collected ones)."""
    train = manifest[(manifest["split"] == "train") & ~manifest["augmented"].astype(bool)]
    counts = train["label"].value_counts().reindex(list(EXPRESSIONS), fill_value=0).to_numpy(float)
    return counts / counts.sum()


def stacker_priors(all_params: dict, root: Path = Path(".")) -> np.ndarray | None:
    """The label shares a stacking combiner is fitted to (``ensemble.priors``): the training split's, read from the
    candidates' prepared dataset, or None for validation's own."""
    if all_params["ensemble"]["priors"] != "training":
        return None
    dataset = all_params["approaches"][all_params["ensemble"]["candidates"][0]]
    return training_priors(pd.read_parquet(root / "data" / dataset / "prepared" / "manifest.parquet"))


def prior_weights(y: np.ndarray, priors: np.ndarray | None) -> np.ndarray | None:
    """Per row, the weight that makes each label's share of the rows its share in ``priors`` (None: unweighted).
    A combiner fitted on validation learns validation's label shares as its intercepts; FER-2013's validation
    lacks surprise faces (7.6 % against 11 % in training and test), so it is fitted to the training shares."""
    if priors is None:
        return None
    counts = np.bincount(y, minlength=len(priors)).astype(float)
    shares = counts / counts.sum()
    return (np.asarray(priors, float) / np.where(shares > 0, shares, 1.0))[y]


def fit_stacker(data: Stacked, rows: np.ndarray, params: dict, priors: np.ndarray | None):
    """A combiner fitted on the given rows of ``data``, weighted to ``priors``."""
    y = data.y[rows]
    return build_stacker(params).fit(stacking_inputs(data.proba[rows]), y,
                                     logreg__sample_weight=prior_weights(y, priors))


def stack_proba(data: Stacked, params: dict, priors: np.ndarray | None = None) -> np.ndarray:
    """Cross-fitted stacking probabilities for every image of ``data`` (one split): each fold predicted by a
    combiner fitted on the other folds. NaN rows stay NaN."""
    out = np.full(data.proba.shape[::2], np.nan)
    found = np.flatnonzero(data.found)
    folds = np.array_split(np.random.default_rng(params["seed"]).permutation(found), params["folds"])
    for fold in folds:
        stacker = fit_stacker(data, np.setdiff1d(found, fold), params, priors)
        out[fold] = _full_width(stacker, stacking_inputs(data.proba[fold]))
    return out


def _full_width(stacker, X: np.ndarray) -> np.ndarray:
    proba = np.zeros((len(X), len(EXPRESSIONS)))
    proba[:, stacker.classes_] = stacker.predict_proba(X)
    return proba


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with a lost face (a NaN row) counted as wrong."""
    return float(np.mean(decide(proba) == y)) if len(y) else 0.0


def compare_on_validation(stacked: Stacked, params: dict, priors: np.ndarray | None = None) -> pd.DataFrame:
    """Every subset (of ``min_members`` or more) with both combiners: validation accuracy, stacking cross-fitted."""
    rows = []
    for size in range(min(params["min_members"], len(stacked.members)), len(stacked.members) + 1):
        for members in itertools.combinations(stacked.members, size):
            val = stacked.subset(members, "validation")
            rows.append({"members": "+".join(members), "combiner": "mean",
                         "validation_accuracy": round(accuracy(mean_proba(val), val.y), 4)})
            if "stacking" in params["combiners"]:
                rows.append({"members": "+".join(members), "combiner": "stacking",
                             "validation_accuracy": round(accuracy(stack_proba(val, params, priors), val.y), 4)})
    return pd.DataFrame(rows)


def choose(comparison: pd.DataFrame) -> tuple[list[str], str]:
    """The best validation accuracy; ties go to fewer members, then to soft voting, then to the listed order."""
    ranked = comparison.assign(size=comparison["members"].str.count(r"\+"),
                               learned=comparison["combiner"] != "mean", order=np.arange(len(comparison)))
    best = ranked.sort_values(["validation_accuracy", "size", "learned", "order"],
                              ascending=[False, True, True, True]).iloc[0]
    return best["members"].split("+"), best["combiner"]


def final_proba(stacked: Stacked, members: list[str], combiner: str, params: dict,
                priors: np.ndarray | None = None):
    """Probabilities of every image under the chosen ensemble, and the combiner fitted on all of validation
    (None for soft voting). Validation rows of a stacker are its cross-fitted ones, so they stay honest."""
    data = stacked.subset(members)
    if combiner == "mean":
        return mean_proba(data), None
    val = data.subset(members, "validation")
    stacker = fit_stacker(val, np.flatnonzero(val.found), params, priors)
    proba = np.full(data.proba.shape[::2], np.nan)
    have = data.found
    proba[have] = _full_width(stacker, stacking_inputs(data.proba[have]))
    proba[data.split == "validation"] = stack_proba(val, params, priors)
    return proba, stacker


@dataclass
class Choice:
    """The ensemble chosen on validation: its members and combiner, every image's probabilities under it, the
    fitted combiner (None for soft voting) and the validation comparison it was chosen from."""

    members: list[str]
    combiner: str
    proba: np.ndarray
    stacker: object | None
    comparison: pd.DataFrame


def choose_ensemble(stacked: Stacked, params: dict, priors: np.ndarray | None = None) -> Choice:
    """Compare every subset and combiner on validation, keep the best, and combine every image with it."""
    comparison = compare_on_validation(stacked, params, priors)
    members, combiner = choose(comparison)
    proba, stacker = final_proba(stacked, members, combiner, params, priors)
    return Choice(members, combiner, proba, stacker, comparison)


def export_stacker(stacker, n_members: int):
    """The fitted combiner as ONNX: ``features`` = the members' probabilities side by side."""
    from meshfer.training.onnx_graph import finish
    from meshfer.training.sklearn_onnx import sklearn_to_onnx

    graph = sklearn_to_onnx(stacker.named_steps["logreg"], n_members * len(EXPRESSIONS), log_inputs=EPS)
    return finish(graph, "ensemble")

"""The models the package ships are the ones the pipeline evaluated, and they are good: each bundled model's
fingerprint (meshfer.training.fingerprint: a fixed sample of its test split with the evaluated probabilities and,
for some faces, the stored meshes) is checked against the serving runtime, then against the images themselves
through MediaPipe. A constant model, a model with two labels swapped or a file replaced under its card fails here."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml

from meshfer.card import CARD_FILE, EnsembleCard, ModelCard, read_card, sha256_of
from meshfer.features import MeshBatch, compute_features
from meshfer.imageio import read_rgb
from meshfer.recognizer import bundled_models_dir
from meshfer.runtime import load_expression_model, load_model
from meshfer.training.fingerprint import FINGERPRINT_ARRAYS, FINGERPRINT_JSON, STORED_INPUTS
from tests.conftest import ROOT, dataset_root

BUNDLED = yaml.safe_load((ROOT / "params.yaml").read_text())["serving"]["bundled"]
MODELS = bundled_models_dir()
PROBABILITY_TOLERANCE = 1e-5  # served on the stored meshes = evaluated (float32 feature arithmetic in another order)
SAME_LABELS = 0.99  # through MediaPipe, whose meshes differ in the low bits from one CPU kind to another
ACCURACY_POINTS = 0.01  # the sample's accuracy through MediaPipe against its recorded figure
CARD_POINTS = 0.04  # the sample's recorded accuracy against the card's whole-test figure: 3 x the 1.3-point spread
# of a 1,000-face sample
MIN_ACCURACY = {"expression": 0.5, "eyes": 0.6}  # far above a constant model (FER-2013: 24.5 %, the eyes: 40 %)


@dataclass
class Fingerprint:
    summary: dict
    arrays: dict[str, np.ndarray]

    @property
    def predicted(self) -> np.ndarray:
        return predicted_labels(self.arrays["proba"])

    def image_paths(self) -> list[Path]:
        roots = [dataset_root(r["name"], r["env"]) for r in self.summary["dataset_roots"]]
        return [roots[r] / rel for r, rel in zip(self.arrays["root"], self.arrays["path"])]


@cache
def fingerprint(approach: str) -> Fingerprint:
    folder = MODELS / approach
    summary = json.loads((folder / FINGERPRINT_JSON).read_text())
    with np.load(folder / FINGERPRINT_ARRAYS, allow_pickle=False) as data:
        return Fingerprint(summary, dict(data))


def predicted_labels(proba: np.ndarray) -> np.ndarray:
    """Label index per image, -1 where no face (a NaN row): how the pipeline and these tests count a lost face."""
    return np.where(np.isnan(proba[:, 0]), -1, np.nan_to_num(proba, nan=-1).argmax(axis=1))


def accuracy(proba: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted_labels(proba) == labels))


def images_checked(print_: Fingerprint, rows: np.ndarray) -> list[np.ndarray]:
    """The sampled images of the given rows, each checked to be the file the fingerprint was made from."""
    paths = print_.image_paths()
    for i in rows:
        assert sha256_of(paths[i]) == print_.arrays["sha256"][i], f"{paths[i]} is not the image that was evaluated"
    return [read_rgb(paths[i]) for i in rows]


def stored_batch(print_: Fingerprint) -> tuple[np.ndarray, MeshBatch]:
    """(rows of the sample, their stored meshes with their images) of a model's fingerprint."""
    rows = np.flatnonzero(print_.arrays["stored"])
    points, blendshapes, pose = (print_.arrays[name] for name in ("points", "blendshapes", "pose"))
    return rows, MeshBatch(points, blendshapes, pose, images_checked(print_, rows))


# --- what ships is what the fingerprint was made of ------------------------------------------------------------
@pytest.mark.parametrize("approach", BUNDLED)
def test_every_bundled_model_has_a_fingerprint_of_its_own_files(approach):
    summary = fingerprint(approach).summary
    assert summary["approach"] == approach and summary["split"] == "test"
    assert summary["arrays_sha256"] == sha256_of(MODELS / approach / FINGERPRINT_ARRAYS)
    card = read_card(MODELS / approach / CARD_FILE)
    files = {approach: MODELS / approach / card.format} if isinstance(card, ModelCard) else \
        {**{m: MODELS / m / read_card(MODELS / m / CARD_FILE).format for m in card.members},
         **({approach: MODELS / approach / card.combiner} if card.combiner != "mean" else {})}
    assert summary["model_sha256"] == {name: sha256_of(path) for name, path in files.items()}, \
        "the fingerprint was made with other model files than the package ships"
    arrays = fingerprint(approach).arrays
    assert len(arrays["path"]) == summary["images"] == min(1000, summary["of_split_images"])
    assert arrays["proba"].dtype == np.float32 and arrays["proba"].shape == (summary["images"], len(card.labels))


def test_the_expression_models_share_one_sample():
    expression = [a for a in BUNDLED if read_card(MODELS / a / CARD_FILE).task == "expression"]
    first = fingerprint(expression[0]).arrays
    for approach in expression[1:]:
        assert np.array_equal(fingerprint(approach).arrays["path"], first["path"]), approach
        assert np.array_equal(fingerprint(approach).arrays["label"], first["label"]), approach


@pytest.mark.parametrize("approach", BUNDLED)
def test_the_recorded_figures_are_the_cards_and_no_broken_model_reaches_them(approach):
    """The sample's accuracy recomputed from its probabilities, near the card's whole-test figure, and above what the
    commonest label alone or the model with any two labels swapped would score on the sample."""
    print_, card = fingerprint(approach), read_card(MODELS / approach / CARD_FILE)
    labels, predicted = print_.arrays["label"], print_.predicted
    recorded = print_.summary["sample"]["accuracy"]
    assert recorded == round(float(np.mean(predicted == labels)), 4)
    if "data_note" not in print_.summary:  # the card's run and the fingerprint's data are the same
        assert abs(recorded - card.metrics["test"]["acc"]) <= CARD_POINTS, (recorded, card.metrics["test"])
        assert print_.summary["whole_split"]["accuracy"] == card.metrics["test"]["acc"]
    assert recorded >= MIN_ACCURACY[card.task]
    assert recorded > best_broken_accuracy(predicted, labels, len(card.labels)) + ACCURACY_POINTS


def best_broken_accuracy(predicted: np.ndarray, labels: np.ndarray, n_labels: int) -> float:
    """The best a broken copy of the model scores on the sample: always one label, or two labels swapped."""
    constant = max(float(np.mean(labels == k)) for k in range(n_labels))
    swapped = []
    for i in range(n_labels):
        for j in range(i + 1, n_labels):
            flip = predicted.copy()
            flip[predicted == i], flip[predicted == j] = j, i
            swapped.append(float(np.mean(flip == labels)))
    return max(constant, *swapped)


@pytest.mark.parametrize("approach", [a for a in BUNDLED if a != "ensemble"])
def test_the_cards_parity_fields_say_the_file_gives_what_was_trained(approach):
    card = ModelCard.read(MODELS / approach / CARD_FILE)
    parity = card.export["parity"]
    assert set(parity) == {"validation", "test"}
    for split, check in parity.items():
        assert check["rows"] > 0 and check["argmax_agreement"] >= 0.999, (split, check)
        # A tree model's thresholds become float32 in ONNX: its probabilities move (mesh_hgb: up to 0.05), its labels
        # do not; a network's or an SVM's stay within 1e-5.
        assert check["max_abs_probability_difference"] <= 0.1, (split, check)
        assert abs(check["accuracy_exported"] - check["accuracy_trained"]) <= 0.001, (split, check)
    assert card.metrics["val"]["acc"] == parity["validation"]["accuracy_exported"]
    assert card.metrics["test"]["acc"] == parity["test"]["accuracy_exported"]


# --- served = evaluated, on the stored meshes (no MediaPipe) ----------------------------------------------------
def served_on_stored_meshes(approach: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the sample, probabilities the serving runtime gives them) from stored meshes: the model's own, or
    for an ensemble its first member's (the members share the sample)."""
    card = read_card(MODELS / approach / CARD_FILE)
    if isinstance(card, EnsembleCard):
        rows, batch = stored_batch(fingerprint(card.members[0]))
        return rows, load_expression_model(MODELS, approach).predict_proba_meshes(batch)
    rows, batch = stored_batch(fingerprint(approach))
    if card.task == "expression":
        return rows, load_expression_model(MODELS, approach).predict_proba_meshes(batch)
    model = load_model(MODELS / approach)
    return rows, model.predict_proba(compute_features(batch, model.card.feature_params)).mean(axis=1)


@pytest.mark.parametrize("approach", BUNDLED)
def test_served_on_the_stored_meshes_gives_the_evaluated_probabilities(approach):
    rows, served = served_on_stored_meshes(approach)
    recorded = fingerprint(approach).arrays["proba"][rows]
    assert len(rows) >= min(STORED_INPUTS, fingerprint(approach).arrays["found"].sum())
    difference = np.abs(served - recorded).max()
    assert difference <= PROBABILITY_TOLERANCE, f"{approach}: served probabilities differ by up to {difference:.2g}"


# --- served = evaluated, from the images through MediaPipe ------------------------------------------------------
@cache
def served_from_images(task: str) -> dict[str, np.ndarray]:
    """Per bundled approach of the task, the Recognizer's probabilities for its fingerprint's images (face 0; NaN
    where none is found). One MediaPipe pass serves every approach: each runs on the default's meshes."""
    from meshfer import Recognizer

    approaches = [a for a in BUNDLED if read_card(MODELS / a / CARD_FILE).task == task]
    print_ = fingerprint(approaches[0])
    out = {a: np.full(print_.arrays["proba"].shape, np.nan, np.float32) for a in approaches}
    with Recognizer(eyes=task == "eyes") as recognizer:
        others = {a: recognizer.variant(a) for a in approaches if task == "expression" and a != recognizer.approach}
        for i, path in enumerate(print_.image_paths()):
            assert sha256_of(path) == print_.arrays["sha256"][i], f"{path} is not the image that was evaluated"
            faces = recognizer.predict_faces(path)
            if not len(faces):
                continue
            if task == "eyes":
                out[approaches[0]][i] = faces.eyes[0].mean(axis=0)
                continue
            out[recognizer.approach][i] = faces.proba[0]
            face = faces.meshes[0]
            batch = MeshBatch(face.points[None], face.blendshapes[None], face.pose[None], [read_rgb(path)])
            for approach, variant in others.items():
                out[approach][i] = variant.expression.predict_proba_meshes(batch)[0]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("approach", BUNDLED)
def test_served_from_the_images_labels_as_evaluated_and_scores_the_recorded_accuracy(approach):
    print_ = fingerprint(approach)
    served = served_from_images(print_.summary["task"])[approach]
    same = float(np.mean(predicted_labels(served) == print_.predicted))
    measured = accuracy(served, print_.arrays["label"])
    assert same >= SAME_LABELS, f"{approach}: only {same:.1%} of the sample keep their evaluated label"
    assert abs(measured - print_.summary["sample"]["accuracy"]) <= ACCURACY_POINTS, \
        (approach, measured, print_.summary["sample"])

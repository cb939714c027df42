"""Training wing: a trained model as its framework made it, with its card: what the train stage writes and the
export stage reads (models/trained/<approach>/). Which framework stores it follows from the card's model kind
(meshfer.training.model_kinds), imported by name so that loading one kind never imports another's code."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meshfer.card import CARD_FILE, ModelCard, ModelLoadError
from meshfer.training.model_kinds import import_code


@dataclass
class TrainedModel:
    """A fitted estimator or network with its card; ``predict_proba`` always has one column per card label."""

    card: ModelCard
    estimator: Any

    @property
    def kind(self) -> str:
        return self.card.model_params["kind"]

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
        import_code(self.kind, "framework").save_model(self.estimator, directory)
        self.card.write(directory)


def load_trained(directory: str | Path) -> TrainedModel:
    """Load what a train stage wrote (card + skops or Keras file), refusing untrusted content."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"no model directory at {directory}")
    card = ModelCard.read(directory / CARD_FILE)
    card.check_compatible(directory)
    kind = card.model_params["kind"]
    return TrainedModel(card, import_code(kind, "framework").load_model(directory, kind))

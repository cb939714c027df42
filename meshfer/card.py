"""The model card: the JSON beside every model file that says what the model is and how to feed it.

Core: plain JSON, shared by the training wing (which writes cards) and the serving wing (which reads them).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from meshfer.features import get_kind
from meshfer.labels import labels_for

CARD_FILE = "card.json"
ONNX_FILE = "model.onnx"


class ModelLoadError(RuntimeError):
    """A model directory is missing, damaged, or does not match this version of meshfer."""


@dataclass
class ModelCard:
    approach: str
    task: str
    labels: list[str]
    feature_kind: str
    feature_version: int
    feature_params: dict
    model_params: dict
    data: dict = field(default_factory=dict)  # landmark-index hash, counts, detection settings
    metrics: dict = field(default_factory=dict)  # per split: accuracy, macro_f1, no_face_rate, ...
    training: dict = field(default_factory=dict)  # time, library versions
    format: str = ONNX_FILE  # the model file beside the card
    file_sha256: str = ""  # of the model file; checked on load
    export: dict = field(default_factory=dict)  # converter versions, opset, parity with the trained model

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n"

    def write(self, directory: Path) -> None:
        Path(directory, CARD_FILE).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ModelLoadError(f"no model card at {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
            raise ModelLoadError(f"{path} is not a meshfer model card ({type(err).__name__}: {err})") from None

    def check_compatible(self, where: Path) -> None:
        """Refuse a model whose labels or feature definition differ from this code's."""
        try:
            expected_labels = list(labels_for(self.task))
            kind = get_kind(self.feature_kind)
        except ValueError as err:
            raise ModelLoadError(f"{where}: {err}") from None
        if self.labels != expected_labels:
            raise ModelLoadError(f"{where}: model labels {self.labels} differ from this meshfer's {expected_labels}")
        if kind.version != self.feature_version:
            raise ModelLoadError(
                f"{where}: model was trained on feature '{self.feature_kind}' version {self.feature_version}, "
                f"this meshfer computes version {kind.version}; retrain it with `dvc repro`"
            )


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class EnsembleCard:
    """An ensemble's card (``ensemble/card.json``): its members, in order, and how their probabilities combine:
    ``mean`` (soft voting) or a learned combiner in ``model.onnx`` whose input is the members' probabilities side
    by side."""

    approach: str
    task: str
    labels: list[str]
    members: list[str]
    combiner: str = "mean"  # mean | model.onnx
    file_sha256: str = ""
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    selection: dict = field(default_factory=dict)  # what was compared on validation to choose it

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, directory: Path) -> None:
        Path(directory, CARD_FILE).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> "EnsembleCard":
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ModelLoadError(f"no ensemble card at {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
            raise ModelLoadError(f"{path} is not a meshfer ensemble card ({type(err).__name__}: {err})") from None


def read_card(path: str | Path) -> ModelCard | EnsembleCard:
    """A model's or an ensemble's card, by what the file holds."""
    try:
        is_ensemble = "members" in json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"no model card at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path} is not a meshfer model card ({type(err).__name__}: {err})") from None
    return (EnsembleCard if is_ensemble else ModelCard).read(path)

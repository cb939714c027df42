"""Which code fits, stores and converts each model kind (``<approach>.model.kind`` in params.yaml).

The train and export stages import an approach's code from here by name, so that neither imports every kind, and
dvc.yaml declares exactly that code for each approach: stages/approaches.yaml lists it, written from this table by
`make stage-deps` and checked before every stage (stages/__init__.py) and by tests/test_stage_deps.py. So an edit
to one kind's code makes only the approaches of that kind stale.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class KindCode:
    framework: str  # fits, saves and loads the model (FORMAT, fit_model, save_model, load_model)
    model: str      # defines it
    converter: str  # turns it into ONNX (to_onnx)
    # How its training is recorded in metrics/training/<approach>/plots/metrics/ and drawn by `dvc plots show`:
    # per epoch (a curve over `step`) or once, fitted in one go (train and validation accuracy as bars).
    record: str = "once"


# The plot properties of each kind of training record (x: the axis; the y is the file's last column).
RECORD_PLOTS = {"epochs": {"record_x": "step", "record_template": "linear"},
                "once": {"record_x": "accuracy", "record_template": "bar_horizontal"}}


_SKLEARN = KindCode("meshfer.training.estimators", "meshfer.training.classifiers", "meshfer.training.sklearn_onnx")
MODEL_KINDS = {
    "svm": _SKLEARN,
    "hgb": _SKLEARN,
    "logreg": _SKLEARN,
    "logistic_at": _SKLEARN,
    "cnn": KindCode("meshfer.training.networks", "meshfer.training.cnn", "meshfer.training.keras_onnx", "epochs"),
    "gnn": KindCode("meshfer.training.networks", "meshfer.training.gnn", "meshfer.training.keras_onnx", "epochs"),
}


def code_of(kind: str) -> KindCode:
    try:
        return MODEL_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}") from None


def import_code(kind: str, part: str) -> ModuleType:
    """The module that is ``part`` (framework, model or converter) of a model kind's code."""
    return importlib.import_module(getattr(code_of(kind), part))


def module_file(name: str) -> str:
    """A module's file, relative to the project: what dvc.yaml lists."""
    return name.replace(".", "/") + ".py"


def approach_code(params: dict) -> dict[str, dict[str, str]]:
    """stages/approaches.yaml's content: per approach, its dataset, the files of its model kind's code and how its
    training record is plotted."""
    out = {}
    for approach, dataset in params["approaches"].items():
        code = code_of(params[approach]["model"]["kind"])
        out[approach] = {"dataset": dataset,
                         **{part: module_file(getattr(code, part)) for part in ("framework", "model", "converter")},
                         **RECORD_PLOTS[code.record]}
    return out

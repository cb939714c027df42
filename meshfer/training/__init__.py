"""The training wing: what `dvc repro` runs through `stages/` (needs ``pip install "meshfer[train]"``).

Datasets, augmentation, the landmark store, estimators and networks, ONNX export, the ensemble and evaluation. Nothing
outside this folder imports it (tests/test_layout.py checks): the serving wing reads only the files it writes.
"""
from importlib.util import find_spec

# The libraries every part of this wing may reach for (import names); checked, not imported, so this stays cheap.
TRAINING_LIBRARIES = ("sklearn", "scipy", "yaml", "skops", "joblib", "onnx", "skl2onnx", "tf2onnx", "tensorflow",
                      "tf_keras", "spektral", "mord", "albumentations", "dvclive", "pyarrow")

_missing = [name for name in TRAINING_LIBRARIES if find_spec(name) is None]
if _missing:
    raise ImportError(f"meshfer.training needs the training stack (missing: {', '.join(_missing)}): "
                      'pip install "meshfer[train]"')

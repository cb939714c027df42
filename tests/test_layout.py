"""The folders show the architecture, and the rule behind them holds: nothing outside `meshfer/training/` imports the
training wing or the training stack, so `pip install .` (without the [train] extra) runs all of it."""
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.stage_deps import imported_modules
from tests.conftest import ROOT

PACKAGE = ROOT / "meshfer"
TRAINING = PACKAGE / "training"
# Import names of what only `pip install "meshfer[train]"` brings (onnxruntime, serving's runtime, is not onnx).
TRAINING_STACK = {"sklearn", "tensorflow", "keras", "tf_keras", "spektral", "mord", "skops", "dvc", "dvclive", "scipy",
                  "yaml", "onnx", "skl2onnx", "tf2onnx", "albumentations", "joblib", "dask", "pyarrow"}
# What `pip install "meshfer[dask]"` brings (`meshfer predict --dask`): only these serving modules may import it.
DASK_EXTRA = {"dask", "distributed", "pyarrow", "fsspec"}
DASK_MODULES = {"dask_cluster", "dask_predict"}


def forbidden_imports(path: Path) -> list[str]:
    allowed = DASK_EXTRA if path.parent == PACKAGE and path.stem in DASK_MODULES else set()
    return sorted(m for m in imported_modules(path)
                  if m == "meshfer.training" or m.startswith("meshfer.training.")
                  or m.split(".")[0] in (TRAINING_STACK | DASK_EXTRA) - allowed)


SERVING_FILES = sorted(p for p in PACKAGE.rglob("*.py") if TRAINING not in p.parents)


@pytest.mark.parametrize("path", SERVING_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_and_serving_never_import_training(path):
    assert forbidden_imports(path) == [], f"{path.relative_to(ROOT)} imports the training wing or stack"


def test_the_rule_is_checked_on_real_files():
    # The walk must see the package: a moved folder would make the test above pass on nothing.
    names = {p.stem for p in SERVING_FILES}
    assert {"recognizer", "runtime", "video", "cli", "landmarker", "features", "card", "labels"} <= names
    assert "meshfer.training.fitting" in imported_modules(ROOT / "stages" / "train.py")


def test_a_lazy_import_is_caught(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from sklearn.svm import SVC\n    import meshfer.training.onnx_export\n")
    assert forbidden_imports(sample) == ["meshfer.training.onnx_export", "sklearn.svm", "sklearn.svm.SVC"]


def test_only_the_dask_modules_may_import_the_dask_extra(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import distributed\nimport pyarrow.parquet\n")
    assert forbidden_imports(sample) == ["distributed", "pyarrow.parquet"]
    assert "distributed" in imported_modules(PACKAGE / "dask_predict.py")
    assert forbidden_imports(PACKAGE / "dask_predict.py") == []


def test_training_modules_live_in_the_training_folder():
    training_only = {"datasets", "augment", "landmark_store", "feature_table", "featurize", "fitting", "scoring",
                     "trained", "model_kinds", "estimators", "classifiers", "networks", "cnn", "gnn", "onnx_export",
                     "onnx_graph", "sklearn_onnx", "keras_onnx", "ensemble", "held_out", "near_copies", "config"}
    assert training_only <= {p.stem for p in TRAINING.glob("*.py")}
    assert not training_only & {p.stem for p in PACKAGE.glob("*.py")}


def test_stages_reach_the_package_not_each_other():
    for path in sorted((ROOT / "stages").glob("*.py")):
        assert not {m for m in imported_modules(path) if m.startswith("stages")}, path.name


def test_importing_training_without_its_stack_says_how_to_get_it():
    code = ("import importlib.util as util\n"
            "real = util.find_spec\n"
            "util.find_spec = lambda name, *a: None if name == 'sklearn' else real(name, *a)\n"
            "import meshfer.training\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "missing: sklearn" in last and last.endswith('pip install "meshfer[train]"'), proc.stderr


def private_names_used(path: Path) -> list[str]:
    """The package's private names (a module or an object whose name starts with ``_``; not a dunder such as
    ``__version__``) a file imports."""
    return sorted(m for m in imported_modules(path)
                  if m.split(".")[0] == "meshfer"
                  and any(part.startswith("_") and not part.endswith("__") for part in m.split(".")[1:]))


OUTSIDE_FILES = sorted(p for folder in ("bench", "stages", "scripts", "tests") for p in (ROOT / folder).rglob("*.py"))


def test_nothing_outside_the_package_imports_its_private_names():
    """What bench/, stages/, scripts/ and tests/ need from the package is public: a private name can change without
    notice."""
    assert {str(p.relative_to(ROOT)): private_names_used(p) for p in OUTSIDE_FILES if private_names_used(p)} == {}


def test_a_private_import_is_caught(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from meshfer.training.networks import _callbacks\nimport meshfer._native\n"
                      "from meshfer.labels import EXPRESSIONS\n")
    assert private_names_used(sample) == ["meshfer._native", "meshfer.training.networks._callbacks"]

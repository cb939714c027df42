"""dvc.yaml's deps are exactly the code each stage runs, so that `dvc status` names every stale output after any
change, and only those: an edit to one model kind's code leaves the other approaches' stages up to date."""
import shutil

import pytest

from meshfer.training.config import load_params
from scripts.stage_deps import (APPROACHES_FILE, NOT_DECLARED, approaches_yaml, closure, differences,
                                imported_modules)
from tests.conftest import ROOT


def test_every_stage_declares_exactly_the_code_it_imports():
    assert differences() == {}, "run `python scripts/stage_deps.py check` and copy what it lists into dvc.yaml"


def test_the_approaches_file_is_written_from_params():
    assert APPROACHES_FILE.read_text(encoding="utf-8") == approaches_yaml(load_params(ROOT / "params.yaml"))


@pytest.fixture
def project_copy(tmp_path):
    """dvc.yaml and what it reads, in a DVC project of their own (the code stays the checkout's)."""
    for name in ("dvc.yaml", "params.yaml", "stages/approaches.yaml", ".dvc/config"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")  # DVC outside git
    return tmp_path


def test_a_removed_dep_is_caught(project_copy):
    dvc_yaml = project_copy / "dvc.yaml"
    text = dvc_yaml.read_text(encoding="utf-8")
    line = "        - meshfer/training/fitting.py\n"
    assert line in text
    dvc_yaml.write_text(text.replace(line, "", 1), encoding="utf-8")
    found = differences(project_copy)
    assert set(found) == {f"train@{a}" for a in load_params(ROOT / "params.yaml")["approaches"]}
    assert all(d == {"missing": ["meshfer/training/fitting.py"], "extra": []} for d in found.values())


def test_an_extra_dep_is_caught(project_copy):
    dvc_yaml = project_copy / "dvc.yaml"
    text = dvc_yaml.read_text(encoding="utf-8")
    dvc_yaml.write_text(text.replace("        - stages/augment.py\n",
                                     "        - stages/augment.py\n        - meshfer/training/gnn.py\n"),
                        encoding="utf-8")
    assert differences(project_copy) == {f"augment@{d}": {"missing": [], "extra": ["meshfer/training/gnn.py"]}
                                         for d in load_params(ROOT / "params.yaml")["datasets"]}


def test_one_kinds_code_is_not_anothers():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        deps = {stage.name: {d.def_path for d in stage.deps} for stage in repo.index.stages}
    network_code = {"meshfer/training/networks.py", "meshfer/training/cnn.py", "meshfer/training/gnn.py",
                    "meshfer/training/keras_onnx.py"}
    sklearn_code = {"meshfer/training/estimators.py", "meshfer/training/classifiers.py",
                    "meshfer/training/sklearn_onnx.py"}
    assert not deps["train@aligned_cnn"] & (sklearn_code | {"meshfer/training/gnn.py"})
    assert not deps["export@gnn"] & (sklearn_code | {"meshfer/training/cnn.py"})
    assert not deps["train@mesh_hgb"] & network_code
    assert {"meshfer/training/cnn.py", "meshfer/training/networks.py"} <= deps["train@aligned_cnn"]
    # the feature stage reads landmarks: no fitting, network or export code
    assert not deps["features@aligned_cnn"] & (network_code | sklearn_code | {"meshfer/training/onnx_export.py"})


def test_lazy_reexports_and_params_checks_are_not_followed():
    files = closure(["stages.train"])
    assert "meshfer/__init__.py" in files and "meshfer/recognizer.py" not in files  # meshfer.__getattr__
    assert not files & set(NOT_DECLARED)
    assert "meshfer.recognizer" in imported_modules(ROOT / "meshfer" / "__init__.py")  # but it is there

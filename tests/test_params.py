"""params.yaml is checked against a schema before any stage does work: every key in one place, no silent typos."""
import subprocess
import sys
import time

import pytest
import yaml

from meshfer.training.config import load_params, quick_overrides, with_overrides
from meshfer.training.schema import ParamsError, check_params
from tests.conftest import ROOT

PARAMS = ROOT / "params.yaml"


@pytest.fixture
def params() -> dict:
    return yaml.safe_load(PARAMS.read_text())


def write(tmp_path, params: dict):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_the_committed_params_and_the_quick_look_pass(params):
    assert load_params(PARAMS) == params
    check_params(with_overrides(params, quick_overrides(ROOT / "params_quick.yaml")))


def test_anchors_are_refused_with_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    text = PARAMS.read_text()
    assert "\n    dims: 2 " in text
    path.write_text(text.replace("\n    dims: 2 ", "\n    dims: &d 2 ", 1))
    with pytest.raises(ParamsError, match=r"line \d+: YAML anchors and aliases are not allowed"):
        load_params(path)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["pca_svm"]["model"].update(c=10), "pca_svm.model.c: unknown key (pca_svm.model takes C,"),
    (lambda p: p["pca_svm"]["model"].update(C=-1), "pca_svm.model.C: -1 is out of range (must be > 0)"),
    (lambda p: p["pca_svm"]["model"].update(kernel="rbff"), "pca_svm.model.kernel: 'rbff' is not one of rbf,"),
    (lambda p: p["datasets"]["fer"].update(max_per_label=-5), "datasets.fer.max_per_label: -5 is out of range"),
    (lambda p: p["gnn"]["model"].update(epochs="40"), "gnn.model.epochs: '40' is not an integer"),
    (lambda p: p["aligned_cnn"]["features"].update(crop_px=True), "aligned_cnn.features.crop_px: True is not an"),
    (lambda p: p["gnn"]["model"].update(size=3), "gnn.model.size: DVC's run cache ignores keys named size"),
    (lambda p: p["ensemble"].update(candidates=["gnn", "nope"]), "ensemble.candidates[1]: 'nope' is not an "),
    (lambda p: p["mesh_hgb"]["model"].pop("seed"), "mesh_hgb.model.seed: missing"),
    (lambda p: p["datasets"]["eyes"]["split_fractions"].update(test=0.3), "split_fractions: add up to 1.1, not 1"),
    (lambda p: p.update(pca_svn={}), "pca_svn: unknown section"),
    (lambda p: p["approaches"].update(new_one="fer"), "new_one: missing section (approaches.new_one names it)"),
    (lambda p: p["eyes"]["features"].update(patch=None), "eyes.model.pca_on: pixels needs eyes.features.patch"),
    (lambda p: p["eyes"]["features"]["patch"].update(width_px=60), "eyes.features.patch: the patches leave the crop"),
    (lambda p: p["datasets"]["fer"]["near_copies"].update(similarity=1.5), "datasets.fer.near_copies.similarity:"),
    (lambda p: p["ensemble"].update(priors="test"), "ensemble.priors: 'test' is not one of training, validation"),
])
def test_a_wrong_value_is_named_in_one_line(params, change, message):
    change(params)
    with pytest.raises(ParamsError) as err:
        check_params(params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_stage_stops_on_a_bad_value_before_importing_anything_slow(params, tmp_path):
    params["pca_svm"]["model"]["C"] = -1
    write(tmp_path, params)
    code = ("import sys, runpy; sys.argv = ['train', 'pca_svm']\n"
            "try:\n    runpy.run_module('stages.train', run_name='__main__')\n"
            "except SystemExit as e:\n    print(e, file=sys.stderr); print(sorted(m for m in ('sklearn', 'tensorflow')"
            " if m in sys.modules)); sys.exit(3)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    elapsed = time.perf_counter() - start
    assert proc.returncode == 3 and proc.stdout.strip() == "[]", proc  # neither scikit-learn nor TensorFlow loaded
    assert proc.stderr.strip() == "params.yaml: pca_svm.model.C: -1 is out of range (must be > 0)"
    print(f"stopped after {elapsed:.2f} s")


def test_overrides_set_exactly_the_named_key(params):
    changed = with_overrides(params, {"mesh_svm.features.dims": 3})
    assert changed["mesh_svm"]["features"]["dims"] == 3
    assert changed["mesh_hgb"]["features"]["dims"] == changed["aligned_cnn"]["features"]["mesh"]["dims"] == 2
    with pytest.raises(KeyError):
        with_overrides(params, {"pca_svm.model.c": 1})

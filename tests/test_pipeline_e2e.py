"""The whole DVC pipeline on a small, fixed subset chosen through params: what `dvc repro` does for a user."""
import json
import sys

import yaml

from tests.conftest import run_ok

APPROACHES = ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "mesh_hgb", "aligned_cnn", "eyes")


def test_every_approach_produces_metrics_models_and_plots(pipeline_project):
    dest, _, _ = pipeline_project
    for approach in APPROACHES:
        metrics = json.loads((dest / "metrics" / f"{approach}.json").read_text())
        for split in ("validation", "test"):
            m = metrics[split]
            assert 0 <= m["accuracy"] <= 1 and 0 <= m["no_face_rate"] <= 1 and m["images"] > 0
            assert m["accuracy"] <= m["detected_accuracy"] + 1e-9  # no-face images only ever lower it
        card = json.loads((dest / "models" / approach / "card.json").read_text())
        assert card["labels"] and card["feature_version"] >= 1 and card["data"]["train_faces"] > 0
        assert (dest / "metrics" / "confusion" / f"{approach}.csv").read_text().startswith("actual,predicted")
        assert (dest / "metrics" / "confusion" / f"{approach}.png").stat().st_size > 0
    assert "mae_steps" in json.loads((dest / "metrics" / "eyes.json").read_text())["test"]
    for network in ("gnn", "aligned_cnn"):
        assert (dest / "metrics" / "training" / network / "plots" / "metrics").is_dir()


def test_augmented_copies_stay_in_train(pipeline_project):
    import pandas as pd

    dest, _, _ = pipeline_project
    manifest = pd.read_parquet(dest / "data" / "fer" / "augmented" / "manifest.parquet")
    assert manifest["augmented"].any()
    assert set(manifest.loc[manifest["augmented"], "split"]) == {"train"}
    originals = manifest.loc[~manifest["augmented"]]
    assert set(manifest.loc[manifest["augmented"], "source"]) <= set(originals.loc[originals.split == "train",
                                                                                   "source"])


def test_second_repro_is_a_no_op(pipeline_project):
    dest, env, _ = pipeline_project
    out = run_ok([sys.executable, "-m", "dvc", "repro"], dest, env)
    assert "Running stage" not in out and "up to date" in out


def test_metrics_show_lists_all_approaches(pipeline_project):
    dest, env, _ = pipeline_project
    out = run_ok([sys.executable, "-m", "dvc", "metrics", "show", "--json"], dest, env)
    shown = json.dumps(json.loads(out))
    for approach in (*APPROACHES, "ensemble"):
        assert f"metrics/{approach}.json" in shown


def test_ensemble_is_the_mean_of_its_members(pipeline_project):
    import numpy as np
    import pandas as pd

    from meshfer.ensemble import PROBA, mean_probabilities

    dest, _, _ = pipeline_project
    members = json.loads((dest / "metrics" / "reports" / "ensemble.json").read_text())["members"]
    candidates = yaml.safe_load((dest / "params.yaml").read_text())["ensemble"]["candidates"]
    assert set(members) <= set(candidates) and len(members) >= 2
    tables = [pd.read_parquet(dest / "data" / "predictions" / f"{m}.parquet") for m in members]
    voted = mean_probabilities(tables)
    found = ~np.isnan(voted[PROBA[0]].to_numpy(float))
    np.testing.assert_allclose(voted[PROBA].to_numpy(float)[found].sum(axis=1), 1, atol=1e-6)
    metrics = json.loads((dest / "metrics" / "ensemble.json").read_text())
    test = voted[voted["split"] == "test"]
    predicted = np.array(PROBA)[np.nan_to_num(test[PROBA].to_numpy(float), nan=-1).argmax(axis=1)]
    correct = (np.char.replace(predicted.astype(str), "p_", "") == test["actual"].to_numpy(str)) & found[
        (voted["split"] == "test").to_numpy()]
    assert metrics["test"]["accuracy"] == round(correct.mean(), 4)


def test_svm_chain_is_deterministic(pipeline_project):
    dest, env, _ = pipeline_project
    before = {a: (dest / "metrics" / f"{a}.json").read_bytes() for a in ("pca_svm", "blendshape_svm")}
    run_ok([sys.executable, "-m", "dvc", "repro", "-f", "-s", "train@pca_svm", "train@blendshape_svm"], dest, env)
    run_ok([sys.executable, "-m", "dvc", "repro", "-f", "-s", "evaluate@pca_svm", "evaluate@blendshape_svm"], dest,
           env)
    for approach, content in before.items():
        assert (dest / "metrics" / f"{approach}.json").read_bytes() == content, approach

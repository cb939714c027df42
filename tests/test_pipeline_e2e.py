"""The whole DVC pipeline on a small, fixed subset chosen through params: what `dvc repro` does for a user."""
import hashlib
import json
import sys

import numpy as np
import pandas as pd
import yaml

from tests.conftest import run_ok

APPROACHES = ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "mesh_hgb", "aligned_cnn", "eyes")


def test_every_approach_is_exported_checked_and_scored(pipeline_project):
    dest, _, _ = pipeline_project
    for approach in APPROACHES:
        metrics = json.loads((dest / "metrics" / f"{approach}.json").read_text())
        for split in ("validation", "test"):
            m = metrics[split]
            assert set(m) >= {"accuracy", "macro_f1", "no_face_rate"} and 0 <= m["accuracy"] <= 1
        assert ("mae_steps" in metrics["test"]) == (approach == "eyes")
        served = dest / "models" / "serving" / approach
        card = json.loads((served / "card.json").read_text())
        assert card["format"] == "model.onnx" and card["labels"] and card["data"]["train_faces"] > 0
        assert card["file_sha256"] == hashlib.sha256((served / "model.onnx").read_bytes()).hexdigest()
        # The file gives what the trained model gives: exactly in float, nearly with int8 convolutions (the subset's
        # few faces make one changed label several percent).
        quantized = card["model_params"].get("quantize") == "int8"
        for split, check in card["export"]["parity"].items():
            assert check["argmax_agreement"] >= (0.9 if quantized else 0.999), (approach, split, check)
            if not quantized:
                assert abs(check["accuracy_exported"] - check["accuracy_trained"]) <= 0.001, (approach, split, check)
        report = json.loads((dest / "metrics" / "reports" / f"{approach}.json").read_text())
        assert report["test"]["images"] > 0 and "per_class" in report["test"] and report["export_parity"]
        assert (dest / "metrics" / "confusion" / f"{approach}.csv").read_text().startswith("actual,predicted")
        assert (dest / "metrics" / "confusion" / f"{approach}.png").stat().st_size > 0
    for network in ("gnn", "aligned_cnn"):
        assert (dest / "metrics" / "training" / network / "plots" / "metrics" / "eval" / "accuracy.tsv").is_file()


def test_the_package_gets_the_shipped_models_with_their_metrics(pipeline_project):
    dest, _, _ = pipeline_project
    params = yaml.safe_load((dest / "params.yaml").read_text())
    bundle = dest / "meshfer" / "assets" / "models"
    assert sorted(p.name for p in bundle.iterdir() if p.is_dir()) == sorted(params["serving"]["bundled"])
    serving = json.loads((bundle / "serving.json").read_text())
    shipped = {a: json.loads((bundle / a / "card.json").read_text()) for a in params["serving"]["bundled"]}
    assert serving["default_approach"] == max(serving["validation_accuracy"], key=serving["validation_accuracy"].get)
    for approach, card in shipped.items():
        assert card["metrics"] == json.loads((dest / "metrics" / f"{approach}.json").read_text())


def test_augmented_copies_stay_in_train(pipeline_project):
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


def test_metrics_show_is_narrow_and_lists_every_approach(pipeline_project):
    dest, env, _ = pipeline_project
    shown = json.loads(run_ok([sys.executable, "-m", "dvc", "metrics", "show", "--json"], dest, env))
    files = json.dumps(shown)
    for approach in (*APPROACHES, "ensemble"):
        assert f"metrics/{approach}.json" in files
    table = run_ok([sys.executable, "-m", "dvc", "metrics", "show"], dest, env)
    assert len(table.splitlines()[0].split()) <= 16, table.splitlines()[0]  # headline columns only


def test_plots_are_titled_and_pair_training_with_validation(pipeline_project):
    dest, env, _ = pipeline_project
    run_ok([sys.executable, "-m", "dvc", "plots", "show", "--json", "-o", str(dest / "dvc_plots")], dest, env)
    dvc_yaml = yaml.safe_load((dest / "dvc.yaml").read_text())
    ids = [next(iter(plot)) for plot in dvc_yaml["plots"]]
    assert "aligned_cnn — accuracy per epoch" in ids and all(".tsv" not in i for i in ids)
    pairs = [next(iter(plot.values()))["y"] for plot in dvc_yaml["plots"]]
    assert all(any("/train/" in f for f in y) and any("/eval/" in f for f in y) for y in pairs)
    status = run_ok(["git", "status", "--porcelain"], dest, env)
    assert "dvc_plots" not in status  # ignored, not left untracked


def test_ensemble_is_chosen_on_validation_and_served_as_evaluated(pipeline_project):
    from meshfer.training.ensemble import Stacked, decide, final_proba

    dest, _, _ = pipeline_project
    card = json.loads((dest / "models" / "serving" / "ensemble" / "card.json").read_text())
    params = yaml.safe_load((dest / "params.yaml").read_text())["ensemble"]
    assert set(card["members"]) <= set(params["candidates"]) and len(card["members"]) >= 2
    compared = pd.DataFrame(card["selection"]["compared"])
    assert compared["validation_accuracy"].max() == compared.set_index(["members", "combiner"]).loc[
        ("+".join(card["members"]), "mean" if card["combiner"] == "mean" else "stacking"), "validation_accuracy"]
    tables = {m: pd.read_parquet(dest / "data" / "predictions" / f"{m}.parquet") for m in params["candidates"]}
    stacked = Stacked.from_tables(tables)
    combiner = "mean" if card["combiner"] == "mean" else "stacking"
    predicted = decide(final_proba(stacked, card["members"], combiner, params)[0])
    test = stacked.split == "test"
    metrics = json.loads((dest / "metrics" / "ensemble.json").read_text())
    assert metrics["test"]["accuracy"] == round(float(np.mean(predicted[test] == stacked.y[test])), 4)


def test_train_and_export_are_deterministic(pipeline_project):
    dest, env, _ = pipeline_project
    approaches = ("pca_svm", "mesh_hgb", "eyes")
    before = {a: ((dest / "metrics" / f"{a}.json").read_bytes(),
                  (dest / "models" / "serving" / a / "model.onnx").read_bytes()) for a in approaches}
    run_ok([sys.executable, "-m", "dvc", "repro", "-f", "-s", *[f"train@{a}" for a in approaches],
            *[f"export@{a}" for a in approaches], *[f"evaluate@{a}" for a in approaches]], dest, env)
    for approach, (metrics, model) in before.items():
        assert (dest / "metrics" / f"{approach}.json").read_bytes() == metrics, approach
        assert (dest / "models" / "serving" / approach / "model.onnx").read_bytes() == model, approach

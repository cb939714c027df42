"""The whole DVC pipeline on the quick subset (`make quick`): what `dvc repro` does for a user."""
import hashlib
import re
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import yaml

from tests.conftest import ROOT, run_ok

# Every approach params.yaml lists: a new one is checked here without a change to this file.
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
APPROACHES = tuple(PARAMS["approaches"])
EYES = tuple(a for a, d in PARAMS["approaches"].items() if PARAMS["datasets"][d]["task"] == "eyes")


def test_every_approach_is_exported_checked_and_scored(pipeline_project):
    dest, _, _ = pipeline_project
    for approach in APPROACHES:
        metrics = json.loads((dest / "metrics" / f"{approach}.json").read_text())
        assert metrics["subset"] is True  # a quick look's figures say what they are
        assert set(metrics["val"]) == {"acc"} and 0 <= metrics["val"]["acc"] <= 1
        assert set(metrics["test"]) == {"acc"} | ({"mae"} if approach in EYES else set())
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
        assert {"macro_f1", "no_face_rate", "per_class"} <= set(report["test"]) and report["test"]["images"] > 0
        assert report["export_parity"] and report["subset"] is True
        confusion = pd.read_csv(dest / "metrics" / "confusion" / f"{approach}.csv")
        assert list(confusion) == ["actual", "predicted", "actual_rank", "predicted_rank"]
        order = [*json.loads((served / "card.json").read_text())["labels"], "no_face"]
        for column in ("actual", "predicted"):  # the rank is the label's place in the task's order, no face last
            assert (confusion[column].map(order.index) == confusion[f"{column}_rank"]).all()
        assert (dest / "metrics" / "confusion" / f"{approach}.png").stat().st_size > 0
    networks = [a for a in APPROACHES if PARAMS[a]["model"]["kind"] in ("gnn", "cnn")]
    for approach in APPROACHES:  # dvclive's record of every approach's training: a network's per epoch, else once
        record = dest / "metrics" / "training" / approach
        curves = record / "plots" / "metrics"
        if approach in networks:
            assert (curves / "eval" / "accuracy.tsv").is_file() and (curves / "train" / "accuracy.tsv").is_file()
            continue
        bars = pd.read_csv(curves / "accuracy.tsv", sep="\t")  # two bars, not a curve of one point
        assert list(bars["split"]) == ["train", "validation"] and sorted(p.name for p in curves.iterdir()) == [
            "accuracy.tsv"]
        logged = json.loads((record / "metrics.json").read_text())
        assert [logged["train"]["accuracy"], logged["eval"]["accuracy"]] == list(bars["accuracy"])
    run_params = yaml.safe_load((dest / "params.yaml").read_text())  # the quick experiment's, in the workspace
    for network in networks:
        model, curves = run_params[network]["model"], dest / "metrics" / "training" / network / "plots" / "metrics"
        rates = pd.read_csv(curves / "train" / "lr.tsv", sep="\t")  # the learning rate, every epoch, any schedule
        assert len(rates) == len(pd.read_csv(curves / "train" / "loss.tsv", sep="\t")) and (rates["lr"] > 0).all()
        if model.get("ema_decay"):  # the weights' moving average, scored on validation after every epoch
            epochs_run = len((curves / "eval" / "accuracy.tsv").read_text().splitlines())
            assert len((curves / "eval" / "accuracy_averaged.tsv").read_text().splitlines()) == epochs_run > 1


def test_a_subset_run_never_touches_the_package_models(pipeline_project):
    dest, env, _ = pipeline_project
    params = yaml.safe_load((dest / "params.yaml").read_text())
    assert params["datasets"]["fer"]["max_per_label"] > 0  # the quick experiment's values are in the workspace
    assert run_ok(["git", "status", "--porcelain", "meshfer/assets"], dest, env) == ""
    bundle = dest / "models" / "bundle"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(params["serving"]["bundled"])
    for approach in params["serving"]["bundled"]:
        card = json.loads((bundle / approach / "card.json").read_text())
        assert card["metrics"] == json.loads((dest / "metrics" / f"{approach}.json").read_text())
    proc = subprocess.run([sys.executable, "-m", "meshfer.training.promote"], cwd=dest, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stdout == "", proc
    assert proc.stderr.count("\n") == 1 and "not a full-data run: datasets.fer.max_per_label is 20" in proc.stderr
    assert run_ok(["git", "status", "--porcelain", "meshfer/assets"], dest, env) == ""


def test_promote_copies_a_run_and_picks_the_default_on_validation(pipeline_project, tmp_path):
    from meshfer.training.promote import promote

    dest, _, _ = pipeline_project
    bundled = yaml.safe_load((dest / "params.yaml").read_text())["serving"]["bundled"]
    default = promote(bundled, source=dest / "models" / "bundle", dest=tmp_path / "models")
    serving = json.loads((tmp_path / "models" / "serving.json").read_text())
    assert serving["default_approach"] == default == max(serving["validation_accuracy"],
                                                         key=serving["validation_accuracy"].get)
    for approach in bundled:
        run = {p.name: p.read_bytes() for p in (dest / "models" / "bundle" / approach).iterdir()}
        assert {p.name: p.read_bytes() for p in (tmp_path / "models" / approach).iterdir()} == run


def test_a_dataset_of_several_folders_is_reported_per_folder(pipeline_project):
    dest, _, _ = pipeline_project
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for approach, dataset in params["approaches"].items():
        roots = [params["datasets"][dataset]["root"], *(r["root"] for r in params["datasets"][dataset]["more_roots"])]
        report = json.loads((dest / "metrics" / "reports" / f"{approach}.json").read_text())
        if len(roots) == 1:
            assert "by_source" not in report
            continue
        for split in ("validation", "test"):
            parts = report["by_source"][split]
            assert sorted(parts) == sorted(roots), parts
            assert sum(p["images"] for p in parts.values()) == report[split]["images"]
            assert all(set(p["per_class"]) == set(report[split]["per_class"]) for p in parts.values())


def test_augmented_copies_stay_in_train(pipeline_project):
    dest, _, _ = pipeline_project
    manifest = pd.read_parquet(dest / "data" / "fer" / "augmented" / "manifest.parquet")
    assert manifest["augmented"].any()
    assert set(manifest.loc[manifest["augmented"], "split"]) == {"train"}
    originals = manifest.loc[~manifest["augmented"]]
    assert set(manifest.loc[manifest["augmented"], "source"]) <= set(originals.loc[originals.split == "train",
                                                                                   "source"])


def test_second_repro_only_checks_the_data(pipeline_project):
    dest, env, _ = pipeline_project
    out = run_ok([sys.executable, "-m", "dvc", "repro"], dest, env)
    ran = sorted(line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage"))
    assert ran == sorted(f"locate@{d}" for d in PARAMS["datasets"]), out  # always run; nothing after them


def test_metrics_show_fits_160_columns_and_lists_every_approach(pipeline_project):
    dest, env, _ = pipeline_project
    shown = json.loads(run_ok([sys.executable, "-m", "dvc", "metrics", "show", "--json"], dest, env))
    files = json.dumps(shown)
    for approach in (*APPROACHES, "ensemble"):
        assert f"metrics/{approach}.json" in files
    table = run_ok([sys.executable, "-m", "dvc", "metrics", "show"], dest, env)
    assert max(map(len, table.splitlines())) <= 160, table
    assert "members" in table.splitlines()[0] and "val.acc" in table.splitlines()[0]


def test_plots_are_declared_and_the_confusion_puts_actual_on_rows(pipeline_project):
    dest, env, _ = pipeline_project
    run_ok([sys.executable, "-m", "dvc", "plots", "show", "--json", "-o", str(dest / "dvc_plots")], dest, env)
    shown = json.loads(run_ok([sys.executable, "-m", "dvc", "plots", "show", "--json"], dest, env))
    names = set(shown["data"])
    for approach in (*APPROACHES, "ensemble"):
        assert f"metrics/confusion/{approach}.png" in names and f"metrics/confusion/{approach}.csv" in names
    for approach in APPROACHES:
        assert any(n.startswith(f"metrics/training/{approach}/plots/metrics/") for n in names), names
    stages = yaml.safe_load((dest / "dvc.yaml").read_text())["stages"]
    confusion = stages["evaluate"]["do"]["plots"][0]["metrics/confusion/${key}.csv"]
    assert (confusion["x"], confusion["y"]) == ("predicted", "actual") and "rows actual" in confusion["title"]
    assert confusion["template"] == "confusion_ordered"
    assert (dest / ".dvc" / "plots" / "confusion_ordered.json").is_file()
    status = run_ok(["git", "status", "--porcelain"], dest, env)
    assert "dvc_plots" not in status  # ignored, not left untracked


def test_training_records_carry_no_machine_noise(pipeline_project):
    dest, _, _ = pipeline_project
    for approach in APPROACHES:
        card = json.loads((dest / "models" / "serving" / approach / "card.json").read_text())
        assert "seconds" not in json.dumps(card["training"]) and "peak_rss" not in json.dumps(card)
        for path in (dest / "metrics" / "training" / approach).rglob("*"):
            assert "seconds" not in path.name and (path.is_dir() or "seconds" not in path.read_text())
        assert (dest / "data" / "costs" / f"train@{approach}.json").is_file()  # kept, untracked


def test_ensemble_is_chosen_on_validation_and_the_served_file_scores_as_evaluated(pipeline_project):
    """The served combiner (models/serving/ensemble, run by onnxruntime) on the members' evaluated probabilities
    scores the test split as metrics/ensemble.json says: the figure was measured on what ships."""
    from meshfer.runtime import load_expression_model
    from meshfer.training.ensemble import PROBA

    dest, _, _ = pipeline_project
    card = json.loads((dest / "models" / "serving" / "ensemble" / "card.json").read_text())
    params = yaml.safe_load((dest / "params.yaml").read_text())["ensemble"]
    assert set(card["members"]) <= set(params["candidates"]) and len(card["members"]) >= 2
    compared = pd.DataFrame(card["selection"]["compared"])
    combiner = "mean" if card["combiner"] == "mean" else "stacking"
    assert compared["validation_accuracy"].max() == compared.set_index(["members", "combiner"]).loc[
        ("+".join(card["members"]), combiner), "validation_accuracy"]
    tables = [pd.read_parquet(dest / "data" / "predictions" / f"{m}.parquet") for m in card["members"]]
    test = [t[t["split"] == "test"] for t in tables]
    probas = [t[PROBA].to_numpy(np.float32) for t in test]
    found = ~np.isnan(np.stack(probas)).any(axis=(0, 2))
    served = load_expression_model(dest / "models" / "serving", "ensemble").combine([p[found] for p in probas])
    y = test[0]["actual"].map({name: i for i, name in enumerate(card["labels"])}).to_numpy()
    correct = (served.argmax(axis=1) == y[found]).sum()  # a test image without a face counts as wrong
    metrics = json.loads((dest / "metrics" / "ensemble.json").read_text())
    assert metrics["test"]["acc"] == round(float(correct / len(y)), 4)
    assert metrics["members"] == "+".join(card["members"]) and metrics["combiner"] == combiner


def test_train_and_export_are_deterministic(pipeline_project, tmp_path):
    source, env, _ = pipeline_project
    dest = tmp_path / "project"  # a copy: the session's project is read by other tests, never changed
    shutil.copytree(source, dest, symlinks=True)
    approaches = ("pca_svm", "mesh_hgb", "eyes")
    before = {a: ((dest / "metrics" / f"{a}.json").read_bytes(),
                  (dest / "models" / "serving" / a / "model.onnx").read_bytes()) for a in approaches}
    run_ok([sys.executable, "-m", "dvc", "repro", "-f", "-s", *[f"train@{a}" for a in approaches],
            *[f"export@{a}" for a in approaches], *[f"evaluate@{a}" for a in approaches]], dest, env)
    for approach, (metrics, model) in before.items():
        assert (dest / "metrics" / f"{approach}.json").read_bytes() == metrics, approach
        assert (dest / "models" / "serving" / approach / "model.onnx").read_bytes() == model, approach


def test_the_quick_look_reads_in_one_documented_command(pipeline_project):
    from tests.test_experiments import documented_command

    dest, env, _ = pipeline_project  # the fixture checked that `make quick` changed no tracked file
    table = run_ok([sys.executable, "-m", "dvc", *documented_command("A quick look")], dest, env)
    assert max(map(len, table.splitlines())) <= 160, table
    assert re.search(r"datasets\.fer\.max_per_label\s+0\s+20", table), table  # full (committed) beside quick
    for approach in APPROACHES:
        assert re.search(rf"metrics/{approach}\.json\s+val\.acc\s", table), table

"""Stage `ensemble`: choose members and combiner on validation from the candidates' saved probabilities ->
models/serving/ensemble/ (card, + model.onnx for a learned combiner), metrics/ensemble.json, report, confusion."""
import shutil
from pathlib import Path

import pandas as pd

from meshfer.card import ONNX_FILE, EnsembleCard, sha256_of
from meshfer.training.config import load_params, serving_dir, setup_logging, write_json
from meshfer.training.ensemble import Stacked, choose_ensemble, export_stacker, stacker_priors
from meshfer.training.held_out import confusion, confusion_rows, save_confusion_png, subset_mark
from meshfer.labels import EXPRESSIONS
from meshfer.training.onnx_graph import save_onnx
from meshfer.training.scoring import decide
from meshfer.scores import headline, per_class_report, split_metrics


def main() -> None:
    setup_logging()
    all_params = load_params()
    params = all_params["ensemble"]
    tables = {m: pd.read_parquet(Path("data") / "predictions" / f"{m}.parquet") for m in params["candidates"]}
    stacked = Stacked.from_tables(tables)
    chosen = choose_ensemble(stacked, params, stacker_priors(all_params))
    members, stacker, comparison = chosen.members, chosen.stacker, chosen.comparison
    y_pred = decide(chosen.proba)
    scores, report = {}, {}
    for split, mask in stacked.split_masks().items():
        scores[split] = full = split_metrics(stacked.y[mask], y_pred[mask], EXPRESSIONS)
        report[split] = {**full, "per_class": per_class_report(stacked.y[mask], y_pred[mask], EXPRESSIONS),
                         "confusion": confusion(stacked.y[mask], y_pred[mask], EXPRESSIONS).to_dict(orient="index")}
    subset = subset_mark(all_params["datasets"]["fer"])
    metrics = {**headline(scores), **subset}
    out = serving_dir("ensemble")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    card = EnsembleCard(approach="ensemble", task="expression", labels=list(EXPRESSIONS), members=members,
                        params=params, metrics={"val": metrics["val"]},
                        selection={"chosen_by": "validation accuracy (stacking cross-fitted)",
                                   "compared": comparison.to_dict(orient="records")})
    if stacker is not None:
        save_onnx(export_stacker(stacker, len(members)), out / ONNX_FILE)
        card.combiner, card.file_sha256 = ONNX_FILE, sha256_of(out / ONNX_FILE)
    card.write(out)
    # The choice as well as its scores, so that `dvc exp show` lists it beside them.
    write_json(Path("metrics") / "ensemble.json", {**metrics, "members": "+".join(members),
                                                   "combiner": "mean" if stacker is None else "stacking"})
    write_json(Path("metrics") / "reports" / "ensemble.json",
               {**subset, "members": members, "combiner": "mean" if stacker is None else "stacking", **report,
                "validation_accuracy_compared": comparison.to_dict(orient="records")})
    test = stacked.split == "test"
    confusion_rows(stacked.y[test], y_pred[test], EXPRESSIONS).to_csv(Path("metrics") / "confusion" / "ensemble.csv",
                                                                      index=False)
    save_confusion_png(pd.DataFrame.from_dict(report["test"]["confusion"], orient="index"),
                       Path("metrics") / "confusion" / "ensemble.png", "ensemble — test")


if __name__ == "__main__":
    main()

"""Stage `evaluate@<approach>`: score the exported file, through the serving runtime, on validation and test ->
metrics/<approach>.json (headline), metrics/reports/<approach>.json (detail), confusion, per-image predictions."""
from pathlib import Path

import pandas as pd

from meshfer.card import CARD_FILE, ModelCard
from meshfer.runtime import load_model
from meshfer.training.annotations import agreement_faces, annotators_by_path
from meshfer.training.config import dataset_of, load_params, serving_dir, stage_args, write_json
from meshfer.training.datasets import dataset_roots
from meshfer.training.held_out import (agreement_report, by_annotator, by_source, save_confusion_png, score_splits,
                                       subset_mark)
from meshfer.training.feature_table import load_features


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    model = load_model(serving_dir(approach))
    metrics, report, test_rows, predictions = score_splits(model, load_features(approach))
    params = load_params()
    subset = subset_mark(params["datasets"][dataset_of(params, approach)])
    card = ModelCard.read(serving_dir(approach) / CARD_FILE)
    metrics_dir = Path("metrics")
    write_json(metrics_dir / f"{approach}.json", {**metrics, **subset})
    # A dataset of several folders (sources) is reported per source too: a model can learn the source, not the label.
    sources = by_source(predictions, card.labels, ordinal=card.task == "eyes")
    # Where labels.csv says who labelled each image: per annotator too (a gain may be one annotator's style), and
    # the faces a blind annotator labelled again, beside that annotator.
    roots = dataset_roots(params["datasets"][dataset_of(params, approach)])
    annotators = by_annotator(predictions, annotators_by_path(roots), card.labels, ordinal=card.task == "eyes")
    agreement = agreement_faces(roots)
    write_json(metrics_dir / "reports" / f"{approach}.json", {
        **subset, **report, "export_parity": card.export.get("parity"), **({"by_source": sources} if sources else {}),
        **({"by_annotator": annotators} if annotators else {}),
        **({"agreement": agreement_report(predictions, agreement, card.labels)} if len(agreement) else {})})
    (metrics_dir / "confusion").mkdir(parents=True, exist_ok=True)
    test_rows.to_csv(metrics_dir / "confusion" / f"{approach}.csv", index=False)
    last = [split for split in ("validation", "test") if split in report][-1]
    matrix = pd.DataFrame.from_dict(report[last]["confusion"], orient="index")
    save_confusion_png(matrix, metrics_dir / "confusion" / f"{approach}.png", f"{approach} — {last}")
    out = Path("data") / "predictions" / f"{approach}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(out, index=False)


if __name__ == "__main__":
    main()

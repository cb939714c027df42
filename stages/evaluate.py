"""Stage `evaluate@<approach>`: score validation and test -> metrics/<approach>.json, reports, confusion."""
from pathlib import Path

import pandas as pd

from meshfer.config import features_path, load_arrays, stage_args, write_json
from meshfer.evaluate import save_confusion_png
from meshfer.models import load_model
from meshfer.pipeline import evaluate


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    model = load_model(Path("models") / approach)
    features = load_arrays(features_path(approach))
    metrics, report, test_rows, predictions = evaluate(model, features)
    metrics_dir = Path("metrics")
    write_json(metrics_dir / f"{approach}.json", metrics)
    write_json(metrics_dir / "reports" / f"{approach}.json", report)
    (metrics_dir / "confusion").mkdir(parents=True, exist_ok=True)
    test_rows.to_csv(metrics_dir / "confusion" / f"{approach}.csv", index=False)
    last = list(report)[-1]  # test, or validation where a dataset has no test split
    matrix = pd.DataFrame.from_dict(report[last]["confusion"], orient="index")
    save_confusion_png(matrix, metrics_dir / "confusion" / f"{approach}.png", f"{approach} — {last}")
    out = Path("data") / "predictions" / f"{approach}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(out, index=False)


if __name__ == "__main__":
    main()

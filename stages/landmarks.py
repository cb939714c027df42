"""Stage `landmarks@<dataset>`: one cached MediaPipe pass over every image; coverage to metrics/."""
from pathlib import Path

import pandas as pd

from meshfer.training.config import load_params, stage_args, write_json
from meshfer.training.landmark_store import coverage_by_label, coverage_report, run_landmark_pass
from meshfer.landmarker import DetectConfig


def main() -> None:
    dataset = stage_args(__doc__, "dataset", "a key of `datasets` in params.yaml")
    params = load_params()["datasets"][dataset]["landmarks"]
    manifest = pd.read_parquet(Path("data") / dataset / "augmented" / "manifest.parquet")
    index = run_landmark_pass(
        manifest,
        Path("data") / dataset / "landmarks",
        DetectConfig.from_params(params),
        n_jobs=params["n_jobs"],
        backend=params["backend"],
        chunk_size=params["chunk_size"],
        scheduler_address=params.get("scheduler_address") or None,
    )
    originals = index[~index["augmented"]]
    report = coverage_report(originals)
    # Headline: the share of original images (no augmented copies) in which a face was found, per split.
    write_json(Path("metrics") / "landmarks" / f"{dataset}.json",
               {"face_found": {split: report[f"{split}_coverage"] for split in ("train", "validation", "test")
                               if f"{split}_coverage" in report} | {"all": report["coverage"]}})
    write_json(Path("metrics") / "reports" / f"landmarks_{dataset}.json",
               {"originals": report, "with_augmented": coverage_report(index),
                "coverage_by_label": coverage_by_label(originals),
                "coverage_by_label_with_augmented": coverage_by_label(index)})


if __name__ == "__main__":
    main()

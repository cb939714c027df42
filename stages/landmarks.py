"""Stage `landmarks@<dataset>`: one cached MediaPipe pass over every image; coverage to metrics/reports/."""
from pathlib import Path

import pandas as pd

from meshfer.training.config import load_params, project_root, stage_args, write_json
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
        # Not an output: detections of every image and setting seen, shared with queued experiments' copies.
        cache_dir=project_root() / "data" / dataset / "landmarks_cache",
    )
    originals = index[~index["augmented"]]
    # The share of faces found per split is each approach's no-face rate (metrics/<approach>.json); the detail here.
    report = coverage_report(originals)
    write_json(Path("metrics") / "reports" / f"landmarks_{dataset}.json",
               {"originals": report, "with_augmented": coverage_report(index),
                "coverage_by_label": coverage_by_label(originals),
                "coverage_by_label_with_augmented": coverage_by_label(index)})


if __name__ == "__main__":
    main()

"""Stage `landmarks@<dataset>`: one cached MediaPipe pass over every image; coverage to metrics/."""
import argparse
from pathlib import Path

import pandas as pd

from meshfer.config import load_params, setup_logging, write_json
from meshfer.landmark_store import coverage_report, run_landmark_pass
from meshfer.landmarker import DetectConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    args = parser.parse_args()
    setup_logging()
    params = load_params()["datasets"][args.dataset]["landmarks"]
    manifest = pd.read_parquet(Path("data") / args.dataset / "augmented" / "manifest.parquet")
    index = run_landmark_pass(
        manifest,
        Path("data") / args.dataset / "landmarks",
        DetectConfig.from_params(params),
        n_jobs=params["n_jobs"],
        backend=params["backend"],
        chunk_size=params["chunk_size"],
        scheduler_address=params.get("scheduler_address") or None,
    )
    report = {"all": coverage_report(index), "originals": coverage_report(index[~index["augmented"]])}
    write_json(Path("metrics") / "landmarks" / f"{args.dataset}.json", report)


if __name__ == "__main__":
    main()

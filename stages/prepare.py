"""Stage `prepare@<dataset>`: index the labelled images into data/<dataset>/prepared/manifest.parquet."""
import argparse
from pathlib import Path

from meshfer.config import load_params, setup_logging, write_json
from meshfer.datasets import DatasetError, read_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", help="a key of `datasets` in params.yaml")
    args = parser.parse_args()
    setup_logging()
    params = load_params()["datasets"][args.dataset]
    out = Path("data") / args.dataset / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    try:
        manifest, report = read_dataset(Path(params["root"]), params, out)
    except DatasetError as err:
        raise SystemExit(f"prepare@{args.dataset}: {err}\n{params['where_to_get_it']}") from None
    manifest.to_parquet(out / "manifest.parquet", index=False)
    write_json(out / "report.json", report.to_dict())


if __name__ == "__main__":
    main()

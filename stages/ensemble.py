"""Stage `ensemble`: soft voting over the members' saved probabilities -> metrics/ensemble.json, confusion."""
from pathlib import Path

import pandas as pd

from meshfer.config import load_params, setup_logging, write_json
from meshfer.ensemble import soft_vote


def main() -> None:
    setup_logging()
    members = load_params()["ensemble"]["members"]
    tables = [pd.read_parquet(Path("data") / "predictions" / f"{m}.parquet") for m in members]
    metrics, report, test_rows = soft_vote(tables)
    write_json(Path("metrics") / "ensemble.json", metrics)
    write_json(Path("metrics") / "reports" / "ensemble.json", {"members": members, **report})
    test_rows.to_csv(Path("metrics") / "confusion" / "ensemble.csv", index=False)


if __name__ == "__main__":
    main()

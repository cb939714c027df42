"""Render the README's results table from metrics/*.json and bench/results/*.json (no numbers typed by hand).

Run: python -m bench.report   (rewrites the block between the results markers in README.md)
"""
from __future__ import annotations

import json
import re

from bench.common import RESULTS, ROOT
from meshfer.config import load_params

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _load(path):
    return json.loads(path.read_text()) if path.is_file() else {}


def _pct(value) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"


def table() -> str:
    predict = _load(RESULTS / "predict.json").get("approaches", {})
    rows = ["| approach | val acc | test acc | test macro-F1 | test no-face | test acc (faces only) | ms/image, 1 core | "
            "classifier ms/face | model MB |", "|---|---|---|---|---|---|---|---|---|"]
    approaches = load_params(ROOT / "params.yaml")["approaches"]  # expression approaches first, then the eyes
    for approach in (*[a for a, d in approaches.items() if d == "fer"], "ensemble", "eyes"):
        metrics = _load(ROOT / "metrics" / f"{approach}.json")
        if not metrics:
            continue
        val, test, cost = metrics.get("validation", {}), metrics.get("test", {}), predict.get(approach, {})
        rows.append(
            f"| `{approach}` | {_pct(val.get('accuracy'))} | {_pct(test.get('accuracy'))} | "
            f"{test.get('macro_f1', '–')} | {_pct(test.get('no_face_rate'))} | {_pct(test.get('detected_accuracy'))} | "
            f"{cost.get('end_to_end_ms_per_image', '–')} | {cost.get('classify_ms_per_face_batch1', '–')} | "
            f"{cost.get('model_size_mb', '–')} |"
        )
    peer = _load(RESULTS / "peer_fer.json").get("results", {})
    for mode, m in peer.items():
        rows.append(f"| peer: `fer` CNN, {mode} | – | {_pct(m['accuracy'])} | {m['macro_f1']} | "
                    f"{_pct(m['no_face_rate'])} | {_pct(m['detected_accuracy'])} | {m['ms_per_image_one_core']} | – | – |")
    return "\n".join(rows)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"{START}\n{table()}\n{END}"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), block, text, flags=re.S)
    readme.write_text(text)
    print(block)


if __name__ == "__main__":
    main()

"""Render the README's results and speed tables from metrics/*.json and bench/results/*.json (no number typed by
hand).

Run: python -m bench.report   (rewrites the blocks between the results and speed markers in README.md)
"""
from __future__ import annotations

import json
import re

from bench.common import RESULTS, ROOT
from meshfer.training.config import load_params


def _load(path):
    return json.loads(path.read_text()) if path.is_file() else {}


def _pct(value) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"


def _num(value, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def _size_mb(value) -> str:
    return "< 0.1" if isinstance(value, (int, float)) and value < 0.05 else _num(value, 1)


def results_table() -> str:
    params = load_params(ROOT / "params.yaml")
    costs = _load(RESULTS / "predict.json").get("classifiers", {})
    shipped = set(params["serving"]["bundled"])
    default = _load(ROOT / "meshfer" / "assets" / "models" / "serving.json").get("default_approach")
    rows = ["| approach | val acc | test acc | test macro-F1 | test_unseen acc | test no-face | classifier ms/face "
            "(as served) | model MB | shipped |", "|---|---|---|---|---|---|---|---|---|"]
    expression = [a for a, d in params["approaches"].items() if params["datasets"][d]["task"] == "expression"]
    for approach in (*expression, "ensemble", "eyes"):
        metrics = _load(ROOT / "metrics" / f"{approach}.json")
        if not metrics:
            continue
        val, test, unseen = (metrics.get(k, {}) for k in ("val", "test", "unseen"))
        test_report = _load(ROOT / "metrics" / "reports" / f"{approach}.json").get("test", {})
        cost = costs.get(approach, {})
        name = f"**`{approach}`** (default)" if approach == default else f"`{approach}`"
        rows.append(f"| {name} | {_pct(val.get('acc'))} | {_pct(test.get('acc'))} | "
                    f"{_num(test_report.get('macro_f1'), 3)} | {_pct(unseen.get('acc'))} | "
                    f"{_pct(test_report.get('no_face_rate'))} | {_num(cost.get('classify_ms_per_face_after_a_landmark_pass'), 2)} | "
                    f"{_size_mb(cost.get('model_mb'))} | {'yes' if approach in shipped else 'no'} |")
    peer = _load(RESULTS / "peer_fer.json").get("results", {})
    for mode, m in peer.items():
        unseen = m.get("test_unseen", {}).get("accuracy")
        rows.append(f"| peer: `fer` CNN, {mode} | – | {_pct(m['accuracy'])} | {_num(m['macro_f1'], 3)} | "
                    f"{_pct(unseen) if unseen is not None else '–'} | {_pct(m['no_face_rate'])} | – | – | – |")
    return "\n".join(rows)


def speed_table() -> str:
    bench = _load(RESULTS / "predict.json")
    if not bench:
        return "(run `python -m bench.predict`)"
    per_image, video, install = bench["per_image"], bench["video"], bench["serving_install"]
    rows = ["| one core, same run | bare MediaPipe call | `Recognizer().predict` (pandas table) | ratio | "
            "`predict_faces` (numpy arrays) | ratio |", "|---|---|---|---|---|---|"]
    for key, label in (("fer2013_crops", "FER-2013 crop, 48 px"), ("photos", "photo, 200-512 px")):
        m = per_image[key]
        rows.append(f"| {label} ({m['images']} images x {m['rounds']}), default `{m['approach']}` | "
                    f"{m['bare_mediapipe_ms']:.2f} ms | "
                    f"{m['recognizer_ms']:.2f} ms | {m['ratio_of_medians']:.2f}x | {m['predict_faces_ms']:.2f} ms | "
                    f"{m['predict_faces_ratio']:.2f}x |")
    for approach, by_set in bench.get("per_image_single_models", {}).items():
        for key, label in (("fer2013_crops", "FER-2013 crop"), ("photos", "photo")):
            m = by_set[key]
            rows.append(f"| {label}, `{approach}` alone | {m['bare_mediapipe_ms']:.2f} ms | {m['recognizer_ms']:.2f} ms "
                        f"| {m['ratio_of_medians']:.2f}x | {m['predict_faces_ms']:.2f} ms | "
                        f"{m['predict_faces_ratio']:.2f}x |")
    rows.append(f"| video, 640 x 480, {video['frames']} frames | {video['bare_mediapipe_frames_per_second']} fps | "
                f"{video['frames_per_second']} fps (`predict_video`) | "
                f"{video['bare_mediapipe_frames_per_second'] / video['frames_per_second']:.2f}x | | |")
    lines = ["\n".join(rows), "",
             f"- Serving install (the wheel, no extras, in a clean venv): {install['installed_mb']:.0f} MB installed "
             f"({install['site_packages_mb']:.0f} MB of site-packages with the venv's own pip), of which MediaPipe "
             f"and its requirements alone take {install['mediapipe_alone_installed_mb']:.0f} MB (OpenCV "
             f"{install['largest_mb']['opencv_contrib_python.libs'] + install['largest_mb']['cv2']:.0f}); "
             f"`meshfer predict one.jpg` as a fresh process: {install['predict_one_image_wall_s']:.2f} s"
             f" wall, {install['predict_one_image_peak_rss_mib']:.0f} MiB peak memory.",
             f"- Default approach `{per_image['photos']['approach']}`; its classifier takes "
             f"{bench['classifiers'][per_image['photos']['approach']]['classify_ms_per_face_batch1']:.2f} ms per face "
             "at batch 1 in a tight loop and "
             f"{bench['classifiers'][per_image['photos']['approach']]['classify_ms_per_face_after_a_landmark_pass']:.2f}"
             " ms as served, right after a MediaPipe pass has pushed it out of the cache.",
             "- `meshfer predict` over FER-2013 files, images per second with one process / with `-j 2` on 2 cores: "
             + "; ".join(f"{key.replace('_', ' ')}: {m['images_per_second_one_process']:.0f} / "
                         f"{m['images_per_second_j2']:.0f}" for key, m in bench["folder"].items())
             + ". Measured by "
             "`python -m bench.predict` (machine in `bench/results/predict.json`)."]
    return "\n".join(lines)


def robustness_table() -> str:
    bench = _load(RESULTS / "robustness.json")
    if not bench:
        return "(run `python -m bench.robustness`)"
    rows = ["| approach | clean accuracy | mean relative drop under corruption | mCE vs the `fer` CNN (< 1: fewer "
            "errors) | hardest corruption (accuracy, faces found) |", "|---|---|---|---|---|"]
    for approach, m in sorted(bench["summary"].items(), key=lambda kv: kv[1].get("mce_vs_peer_classifier", 9)):
        worst = m["worst"]
        rows.append(f"| `{approach}` | {_pct(m['clean_accuracy'])} | {_pct(m['mean_relative_drop'])} | "
                    f"{_num(m.get('mce_vs_peer_classifier'), 3)} | {worst['corruption']} {worst['severity']} "
                    f"({_pct(worst['accuracy'])}, {_pct(worst['coverage'])}) |")
    return "\n".join([*rows, "", f"{bench['sample']}; `{bench['command']}`, {bench['seconds'] / 60:.0f} minutes."])


def eyes_table() -> str:
    """The eye model's test figures per source (metrics/reports/eyes.json) and across sources (bench.eyes_sources)."""
    report = _load(ROOT / "metrics" / "reports" / "eyes.json")
    if "by_source" not in report:
        return "(run `dvc repro` with both eye sets)"
    labels = list(report["test"]["per_class"])
    rows = [f"| test split | faces | accuracy | MAE (steps) | {' | '.join(f'{n} recall' for n in labels)} |",
            "|---|---|---|---|" + "---|" * len(labels)]
    parts = {"both sources": report["test"], **report["by_source"]["test"]}
    for name, m in parts.items():
        recall = " | ".join(f"{_num(m['per_class'][n]['recall'], 2)} ({m['per_class'][n]['support']})" for n in labels)
        rows.append(f"| {name} | {m['images']} | {_pct(m['accuracy'])} | {_num(m.get('mae_steps'), 3)} | {recall} |")
    bench = _load(RESULTS / "eyes_sources.json")
    if bench:
        rows += ["", "| trained on (its training split) | scored on | accuracy | MAE | "
                 f"{' | '.join(f'{n} recall' for n in labels)} |", "|---|---|---|---|" + "---|" * len(labels)]
        for trained, scored in bench["cross_source"].items():
            for where, m in scored.items():
                recall = " | ".join(_num(m["recall"][n], 2) for n in labels)
                rows.append(f"| {trained.removeprefix('trained on ')} | {where.removeprefix('test of ')} | "
                            f"{_pct(m['accuracy'])} | {_num(m['mae_steps'], 3)} | {recall} |")
    return "\n".join(rows)


def batch_table() -> str:
    """`meshfer predict -j 2` beside `--dask local:2` (bench.batch): steady rates, start-up, peak memory by size."""
    bench = _load(RESULTS / "batch.json")
    if not bench.get("runs"):
        return "(run `python -m bench.batch`)"
    names = {"local_j2": "`predict -j 2` (one CSV)", "dask_local2": "`predict --dask local:2` (Parquet)"}
    rows = ["| same FER-2013 files, same run | files | wall seconds | client peak MiB | worker peaks MiB |",
            "|---|---|---|---|---|"]
    for name, by_size in bench["runs"].items():
        for size, run in by_size.items():
            rows.append(f"| {names[name]} | {int(size):,} | {_num(run['seconds'], 0)} | "
                        f"{_num(run['client_peak_mib'], 0)} | {', '.join(_num(m, 0) for m in run['worker_peak_mib'])} |")
    lines = ["\n".join(rows), ""]
    steady = bench.get("steady_state", {})
    if "dask_over_local" in steady:
        local, dask = steady["local_j2"], steady["dask_local2"]
        lines.append(f"- Steady state (the 9,000 files between the two runs of each command, start-up apart): "
                     f"`-j 2` {_num(local['images_per_second'], 1)} images/s, `--dask local:2` "
                     f"{_num(dask['images_per_second'], 1)} images/s: {_num(steady['dask_over_local'], 2)}x; "
                     f"start-up {_num(local['start_up_seconds'], 0)} s and {_num(dask['start_up_seconds'], 0)} s.")
    if len(dask_runs := bench["runs"].get("dask_local2", {})) > 1:
        first, last = (dask_runs[k] for k in (min(dask_runs, key=int), max(dask_runs, key=int)))
        lines.append(f"- `--dask` memory from {int(min(dask_runs, key=int)):,} to {int(max(dask_runs, key=int)):,} "
                     f"files: client {_num(first['client_peak_mib'], 0)} -> {_num(last['client_peak_mib'], 0)} MiB "
                     f"(local:2 runs the scheduler in it), workers "
                     f"{_num(max(first['worker_peak_mib']), 0)} -> {_num(max(last['worker_peak_mib']), 0)} MiB: rows "
                     "leave as Parquet parts, where `-j 2` keeps every row until the end.")
    if paper := bench.get("on_paper"):
        by_workers = ", ".join(f"{w}: {n:,}" for w, n in paper["images_per_second_by_workers"].items())
        lines.append(f"- On paper: a task costs the scheduler and client {bench['scheduler']['ms_per_task']} ms "
                     f"(empty tasks on local:2), so with chunks of {paper['chunk_size']} images they can feed "
                     f"~{paper['scheduler_ceiling_images_per_second']:,} images/s, "
                     f"~{paper['workers_where_the_scheduler_would_limit']:,} workers at this machine's "
                     f"{_num(paper['per_worker_images_per_second'], 1)} images/s per worker; images/s by workers: "
                     f"{by_workers} (more with a larger --chunk-size; the shared file system's reads not counted).")
    if bench.get("note"):
        lines.append(f"- {bench['note'][0].upper()}{bench['note'][1:]}.")
    lines.append(f"- `{bench['command']}` ({bench['files']:,} FER-2013 files; machine in `bench/results/batch.json`).")
    return "\n".join(lines)


def _replace(text: str, name: str, block: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{block}\n{end}", text, flags=re.S)


def main() -> None:
    readme = ROOT / "README.md"
    text = _replace(readme.read_text(), "results", results_table())
    text = _replace(text, "speed", speed_table())
    text = _replace(text, "robustness", robustness_table())
    text = _replace(text, "eyes", eyes_table())
    text = _replace(text, "batch", batch_table())
    readme.write_text(text)
    print(results_table())
    print(speed_table())


if __name__ == "__main__":
    main()

"""`meshfer predict`, `meshfer evaluate` and `meshfer webcam`: the command line over meshfer.Recognizer.

Arguments and paths are checked before anything slow is imported or loaded, so a mistake costs a fraction of a
second; every problem is one line on stderr (`meshfer: ...`). Exit codes: 0 all inputs read, 1 some input gave
nothing (missing, unreadable, empty folder), 2 nothing could run (bad arguments, bad model), 3 (--dask) some inputs
are missing from the output because Dask gave up on them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from pathlib import Path

import meshfer
from meshfer.drawing import VideoAnnotator, annotate_images, draw
from meshfer.labels import EXPRESSION_FOLDER_ALIASES, EXPRESSIONS, NO_FACE_LABEL, check_aliases
from meshfer.predict_inputs import gather_inputs, in_input_order, video_table

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2
EXIT_INCOMPLETE = 3  # --dask: Dask gave up on some inputs (KilledWorker); --resume runs only those
FORMATS = ("table", "json", "csv")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".txt": "table", ".parquet": "parquet"}
MAX_MEGAPIXELS = 120.0  # meshfer.imageio.MAX_PIXELS (not imported here: --help stays fast)


class UsageError(RuntimeError):
    """A problem the user can fix; printed as one line."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def web_origin(text: str) -> str:
    """A browser origin: scheme://host[:port], nothing after (a browser's Origin header never has a path); "" for
    none."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    extra = parts.path or parts.query or parts.fragment
    if text and (parts.scheme not in ("http", "https") or not parts.netloc or extra):
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin like https://app.example.com "
                                         "(scheme and host, an optional port, no path)")
    return text


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def blink_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        bounds = (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX in ms, e.g. 50-500, not {text!r}") from None
    if not sep or not 0 <= bounds[0] <= bounds[1] or math.isinf(bounds[1]):
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, in ms (e.g. 50-500), not {text!r}")
    return bounds


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, not {value}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"meshfer: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from meshfer.runtime import available_approaches, bundled_models_dir  # numpy, no model: ~0.1 s

    parser = Parser(prog="meshfer", description="Facial expressions and eye closeness from MediaPipe face meshes.")
    parser.add_argument("--version", action="version", version=f"meshfer {meshfer.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--approach", default=None, help="expression model; bundled: "
                        f"{', '.join(available_approaches(bundled_models_dir()))}; a pipeline's models/serving has "
                        "every approach (default: the models folder's default, for the bundled models the best on "
                        "validation among them)")
    common.add_argument("--models-dir", default=None, help="a pipeline's models/serving folder (default: the "
                        "models bundled with meshfer)")
    common.add_argument("--num-faces", type=positive_int, default=4, help="at most this many faces per image "
                        "(default 4)")
    common.add_argument("--no-eyes", action="store_true", help="skip the eye-closeness model")
    common.add_argument("--landmarker", default=None, metavar="TASK_FILE",
                        help="read MediaPipe's face_landmarker.task from here instead of the bundled copy (e.g. a "
                        "shared copy); it must be the same file (same SHA-256) unless --unsafe-landmarker")
    common.add_argument("--unsafe-landmarker", action="store_true",
                        help="accept a --landmarker file with another SHA-256 (another landmarker version): the "
                        "models were trained on the bundled one's meshes, so results may be worse")

    predict = commands.add_parser("predict", parents=[common], help="images, folders and videos",
                                  description="Predict on images, folders (recursively) and video files. Prints a "
                                  "table; --json or --csv (or -o FILE.json / FILE.csv) for programs.")
    predict.add_argument("paths", nargs="+", help="image files, folders or videos")
    fmt = predict.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="JSON records (schema: meshfer/schemas/predictions.schema.json)")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV, one row per face")
    predict.add_argument("-o", "--output", default="-", help="file to write to (default: the terminal); the "
                         "format follows its extension (.json, .csv, .txt) unless --json/--csv is given")
    predict.add_argument("--annotate", metavar="OUT_DIR", help="write each image (and video) with the mesh "
                         "outline and labels drawn on it, keeping the inputs' relative paths")
    predict.add_argument("--smoothing", type=positive_int, default=1,
                         help="videos: average each face's probabilities over its last N frames (default 1)")
    predict.add_argument("--plot", metavar="PNG", help="videos: draw each expression's probability and both "
                         "eyes' openness over time (one video: this file; several: PNG is a folder)")
    predict.add_argument("--summary", metavar="JSON", help="videos: write the share of frames with a face, the "
                         "share of time per expression and the eye events (blinks, closures, PERCLOS, winks)")
    predict.add_argument("--blink-ms", type=blink_range, default=(50.0, 500.0), metavar="MIN-MAX",
                         help="videos: how long both eyes are closed in a blink (default 50-500); longer is a "
                         "closure")
    predict.add_argument("--max-megapixels", type=positive_float, default=MAX_MEGAPIXELS,
                         help=f"refuse larger images, checked from the file's header before decoding (default "
                         f"{MAX_MEGAPIXELS:g})")
    predict.add_argument("-j", "--jobs", type=int, default=1, help="processes for many images: this one and JOBS-1 "
                         "workers (-1: one per core; default 1). Each worker needs about a second to start")
    predict.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bar on stderr (default: for many images or frames, on a terminal)")
    cluster = predict.add_argument_group("on a Dask cluster (needs meshfer[dask]; README: Predict on a cluster)")
    cluster.add_argument("--dask", metavar="ADDRESS", help="share the files between a Dask cluster's workers: a "
                         "scheduler's address (tcp://host:8786; every worker must see the same paths) or local:N "
                         "(N worker processes on this machine). -o OUT.parquet writes a Parquet dataset, part by part")
    cluster.add_argument("--resume", action="store_true", help="with --dask -o OUT.parquet: keep the parts OUT has "
                         "(same paths, sizes and modification times, same settings) and predict the rest")
    cluster.add_argument("--chunk-size", type=positive_int, default=32, help="with --dask: images per task, on "
                         "average (default 32; a video is always one task)")
    predict.set_defaults(format=None, handler=run_predict)

    evaluate = commands.add_parser("evaluate", parents=[common], help="score on a labelled folder",
                                   description="Accuracy, macro-F1 and no-face rate on images in <root>/<label>/ "
                                   "folders, e.g. another expression dataset (no face = wrong).")
    evaluate.add_argument("root", help="a folder with one sub-folder per label")
    evaluate.add_argument("--alias", action="append", default=[], metavar="FOLDER=LABEL",
                          help="map a folder name to a label (repeatable); adds to the built-in names")
    evaluate.add_argument("-o", "--output", default="-", help="also write every figure as JSON to this file "
                          "(schema-free: accuracy, macro_f1, per_class, confusion, ...)")
    evaluate.set_defaults(handler=run_evaluate)

    webcam = commands.add_parser("webcam", parents=[common], help="live window with the labels overlaid",
                                 description="Live predictions from a camera in a window; q or Esc quits.")
    webcam.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    webcam.add_argument("--smoothing", type=positive_int, default=5, help="average probabilities over N frames")
    webcam.set_defaults(handler=run_webcam)

    # stdlib only: the web stack is imported by `serve` itself
    from meshfer.http_settings import LOOPBACK, TOKEN_ENV, ServiceSettings

    defaults = ServiceSettings()
    serve = commands.add_parser("serve", help="HTTP API and web page (needs meshfer[serve])",
                                description="Serve the models over HTTP: the web page at /, the API under /v1/ "
                                "(README: Serve over HTTP). Ctrl-C or SIGTERM stops it.")
    serve.add_argument("--host", default=LOOPBACK, help=f"address to listen on (default {LOOPBACK}: this machine "
                       "only; 0.0.0.0 for every interface, then set a token)")
    serve.add_argument("--port", type=port_number, default=8000, help="default 8000")
    serve.add_argument("--workers", type=positive_int, default=1, help="processes, each with its own models and "
                       "one inference thread (default 1; one per core for throughput)")
    serve.add_argument("--token", default=os.environ.get(TOKEN_ENV, ""), help="require `Authorization: Bearer "
                       f"TOKEN` on the API (default: ${TOKEN_ENV}, the better way: a --token shows in `ps`; none "
                       "when unset)")
    serve.add_argument("--max-upload-mb", type=positive_float, default=defaults.max_upload_bytes / 2**20,
                       help="largest request body (default %(default)g MiB)")
    serve.add_argument("--max-megapixels", type=positive_float, default=defaults.max_pixels / 1e6,
                       help="largest image, checked from its header before decoding (default %(default)g MP)")
    serve.add_argument("--queue", type=positive_int, default=defaults.queue, help="requests that may wait per "
                       "worker; more get 503 with Retry-After (default %(default)s)")
    serve.add_argument("--cors-origin", type=web_origin, default="", metavar="URL", help="allow browser pages "
                       "from this origin (e.g. https://app.example.com) to call the API and stream; only the "
                       "server's own page by default")
    serve.add_argument("--read-timeout", type=positive_float, default=defaults.read_timeout, metavar="SECONDS",
                       help="an upload that sends nothing for this long gets 408 (default %(default)g s)")
    serve.add_argument("--max-connections", type=positive_int, default=defaults.max_connections, help="requests "
                       "and streams open at once per worker; more get 503 (default %(default)s)")
    serve.add_argument("--approach", default=None, help="the default expression model (requests may choose another)")
    serve.add_argument("--models-dir", default=None, help="a pipeline's models/serving folder (default: bundled)")
    serve.add_argument("--num-faces", type=positive_int, default=defaults.num_faces,
                       help="the most faces a request may ask for (default %(default)s)")
    serve.add_argument("--no-metrics", action="store_true", help="count nothing and serve no /metrics (by default "
                       "GET /metrics gives Prometheus metrics of all workers, with the token if one is set)")
    serve.set_defaults(handler=run_serve, no_eyes=False, landmarker=None, unsafe_landmarker=False)

    web = commands.add_parser("web", help="the web page as a static site that runs on the device")
    web_commands = web.add_subparsers(dest="web_command", required=True, parser_class=Parser)
    export = web_commands.add_parser(
        "export", help="write the page, its runtimes and the models into a folder",
        description="Write a static site: the web page in device mode (MediaPipe and the models run in the browser, "
        "no picture leaves it), its wasm runtimes, the landmarker and the models. Any static file server serves it, "
        "e.g. `python -m http.server -d DIR` (open http://localhost:8000/; the camera needs https or localhost).")
    export.add_argument("directory", help="a new or empty folder")
    export.add_argument("--models-dir", default=None, help="a pipeline's models/serving folder (default: bundled)")
    export.set_defaults(handler=run_web_export)
    return parser


# --- checks that run before anything is loaded -----------------------------------------------------------------
def check_common(args) -> None:
    if args.models_dir is not None and not Path(args.models_dir).is_dir():
        raise UsageError(f"--models-dir {args.models_dir}: no such folder")
    if args.landmarker is not None and not Path(args.landmarker).is_file():
        raise UsageError(f"--landmarker {args.landmarker}: no such file")
    if args.unsafe_landmarker and args.landmarker is None:
        raise UsageError("--unsafe-landmarker needs --landmarker FILE")
    if args.approach is not None:
        from meshfer.runtime import available_approaches, bundled_models_dir

        known = available_approaches(args.models_dir or bundled_models_dir())
        if args.approach not in known:
            raise UsageError(f"--approach {args.approach}: unknown; available: {', '.join(known)}")


def check_output(path: str, what: str = "-o", folder: bool = False) -> None:
    """``path`` can be written: a file, or with ``folder`` a folder (a Parquet dataset) made there."""
    if path == "-":
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{what} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} {path}: the folder {parent} is not writable")
    if Path(path).exists() and Path(path).is_dir() != folder:
        kinds = ("folder", "file") if folder else ("file", "folder")
        raise UsageError(f"{what} {path}: is a {kinds[1]}, not a {kinds[0]}")


def output_format(args) -> str:
    if args.format:
        return args.format
    if args.output != "-":
        suffix = Path(args.output).suffix.lower()
        if suffix not in SUFFIX_FORMATS:
            raise UsageError(f"-o {args.output}: cannot tell the format from '{suffix or 'no extension'}'; use "
                             f"a .json, .csv or .txt name, or --json / --csv")
        return SUFFIX_FORMATS[suffix]
    return "table"


def recognizer_settings(args) -> dict:
    """The Recognizer's arguments the command line gives."""
    return dict(approach=args.approach, models_dir=args.models_dir, eyes=not args.no_eyes, num_faces=args.num_faces,
                landmarker_model=args.landmarker, unsafe_landmarker=args.unsafe_landmarker,
                max_megapixels=getattr(args, "max_megapixels", MAX_MEGAPIXELS))


def _recognizer(args):
    from meshfer.recognizer import Recognizer

    return Recognizer(**recognizer_settings(args))


# --- predict ---------------------------------------------------------------------------------------------------
def run_predict(args) -> int:
    fmt = output_format(args)
    if args.dask is not None or fmt == "parquet" or args.resume:
        return run_predict_on_dask(args, fmt)
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(f"--jobs {args.jobs}: -j counts processes, this one included: give 1 or more, or -1 for "
                         "one per core")
    check_common(args)
    for option in ("output", "summary"):
        check_output(getattr(args, option) or "-", f"--{option}")
    images, videos, problems = gather_inputs(args.paths, _say)
    if (args.plot or args.summary) and not videos:
        raise UsageError("--plot and --summary describe videos, and no video was given")
    if args.plot and len(videos) > 1 and Path(args.plot).suffix and not Path(args.plot).is_dir():
        raise UsageError(f"--plot {args.plot}: several videos need a folder to put one plot each in")
    if args.plot and len(videos) == 1 and not Path(args.plot).is_dir() and \
            Path(args.plot).suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {args.plot}: name a picture ({', '.join(PLOT_SUFFIXES)}) or a folder")
    tables, summaries = [], {}
    taken = {path.resolve() for path in (*images, *videos)}  # annotated copies never write over an input
    with _recognizer(args) if images or videos else contextlib.nullcontext() as recognizer:
        if images:
            tables.append(recognizer.predict_many(images, progress=args.progress, return_mesh=bool(args.annotate),
                                                  n_jobs=args.jobs))
            if args.annotate:
                annotate_images(tables[-1], Path(args.annotate), [Path(p) for p in args.paths], taken)
        for video in videos:
            table = predict_one_video(recognizer, video, args, taken)
            tables.append(table)
            if "frame" in table and table["frame"].notna().any():
                summaries[str(video)] = summarize_video(table, video, args, several=len(videos) > 1)
    if problems:
        import pandas as pd

        tables.append(pd.DataFrame({"path": [given for given, _ in problems],
                                    "error": [reason for _, reason in problems]}))
    result = in_input_order(combine(tables), args.paths)
    write_table(result, fmt, args.output, summaries)
    if args.summary:
        Path(args.summary).write_text(json.dumps(summaries, indent=2) + "\n", encoding="utf-8")
    from meshfer.result_table import unreadable_rows

    unreadable = unreadable_rows(result)
    for row in unreadable.itertuples():
        _say(f"{row.path}: {row.error}")
    return EXIT_SOME_FAILED if len(unreadable) else EXIT_OK


def run_predict_on_dask(args, fmt: str) -> int:
    import importlib.util

    from meshfer.dask_cluster import INSTALL_HINT, check_address

    if args.dask is None:
        raise UsageError("Parquet output and --resume need --dask ADDRESS (local:N for this machine's cores)")
    try:
        check_address(args.dask)
    except ValueError as err:
        raise UsageError(f"--dask {err}") from None
    missing = [name for name in ("distributed", "pyarrow", "fsspec") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--dask needs {', '.join(missing)}: {INSTALL_HINT}")
    if args.resume and fmt != "parquet":
        raise UsageError("--resume completes a Parquet dataset: give -o OUT.parquet")
    unsupported = [f"--{name}" for name in ("annotate", "plot", "summary") if getattr(args, name)]
    if args.jobs != 1:
        unsupported.append("--jobs (the cluster's workers do the work)")
    if unsupported:
        raise UsageError(f"--dask does not take {', '.join(unsupported)}")
    check_common(args)
    if "://" not in args.output:
        check_output(args.output, folder=fmt == "parquet")
    from meshfer.dask_predict import predict_on_dask

    if "MESHFER_LOG" not in os.environ:  # Dask logs a cluster's every step at INFO (set when it is imported)
        logging.getLogger("distributed").setLevel(logging.ERROR)

    outcome = predict_on_dask(args.dask, args.paths, recognizer_settings(args), args.smoothing,
                              args.output if fmt == "parquet" else None, resume=args.resume,
                              chunk_size=args.chunk_size, progress=args.progress, say=_say)
    if outcome.table is not None:
        write_table(outcome.table, fmt, args.output)
    for path, error in outcome.failures:
        _say(f"{path}: {error}")
    if outcome.lost:
        files = [item.path for task in outcome.lost for item in task.inputs]
        _say(f"Dask gave up on {len(outcome.lost)} task(s) whose workers died each time they ran them "
             f"(KilledWorker): their {len(files)} file(s) are not in the output (first: {files[0]}); run again"
             + (" with --resume to predict only those" if fmt == "parquet" else ""))
        return EXIT_INCOMPLETE
    return EXIT_SOME_FAILED if outcome.failures else EXIT_OK


def predict_one_video(recognizer, video: Path, args, taken: set[Path]):
    """The video's table, drawn when --annotate asks."""
    writer = VideoAnnotator(video, Path(args.annotate), [Path(p) for p in args.paths], taken) if args.annotate \
        else None
    try:
        return video_table(recognizer, video, str(video), args.smoothing, args.progress, writer)
    finally:
        if writer:
            writer.close()


PLOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".pdf")


def plot_target(plot: str, video: Path, several: bool) -> Path:
    """With one video, ``--plot`` names the picture (inside it, if it is a folder already); with several, the
    folder that gets ``<video>.timeline.png`` each."""
    target = Path(plot)
    if several or target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return target / f"{video.stem}.timeline.png"
    return target


def summarize_video(table, video: Path, args, several: bool) -> dict:
    from meshfer.eye_events import EyeEventRules
    from meshfer.video import plot_timeline, video_summary

    rules = EyeEventRules(*args.blink_ms)
    if args.plot:
        plot_timeline(table, plot_target(args.plot, video, several), title=video.name, rules=rules)
    return video_summary(table, rules)


def combine(tables: list):
    """Images and videos in one table: path, frame, timestamp_ms, face, ..., error (error last); landmarks,
    fetched for drawing, are left out."""
    import pandas as pd

    from meshfer.result_table import INTEGER_COLUMNS, MESH_COLUMNS

    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=["path", "error"])
    columns = list(dict.fromkeys(c for t in tables for c in t.columns))
    order = ["path", "frame", "timestamp_ms", "face"]
    columns = [c for c in order if c in columns] + [c for c in columns if c not in order and c != "error"]
    columns = [c for c in columns if c not in MESH_COLUMNS]
    result = pd.concat(tables, ignore_index=True).reindex(columns=[*columns, "error"])
    for name in INTEGER_COLUMNS:
        if name in result:
            result[name] = result[name].astype("Int64")
    result["error"] = result["error"].fillna("")
    return result


def write_table(table, fmt: str, output: str, summaries: dict | None = None) -> None:
    if fmt == "csv":
        from meshfer.jsonout import SIGNIFICANT_DIGITS

        text = table.to_csv(index=False, float_format=f"%.{SIGNIFICANT_DIGITS}g")
    elif fmt == "json":
        text = json.dumps([_record(row) for row in table.to_dict(orient="records")], indent=2,
                          ensure_ascii=False) + "\n"
    else:
        text = terminal_table(table, summaries or {})
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def _record(row: dict) -> dict:
    """JSON-ready values: integers stay integers, missing values are null, floats are rounded."""
    from meshfer.jsonout import json_value

    return {key: json_value(value) for key, value in row.items()}


def terminal_table(table, summaries: dict) -> str:
    """The short view for a person: file, face, box, expression and score, eye states; one line per face."""
    import numpy as np

    view = table.copy()
    if "x_min" in view:  # the face's box, to tell faces apart (the number annotated images show is `face`)
        boxes = view[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)
        view["box"] = ["" if np.isnan(b).any() else "{:.0f},{:.0f},{:.0f},{:.0f}".format(*b) for b in boxes]
    shown = [c for c in ("path", "frame", "face", "box", "expression", "expression_score", "left_eye",
                         "right_eye", "error") if c in view]
    view = view[shown]
    if "expression_score" in view:
        view["expression_score"] = view["expression_score"].map(lambda v: "" if v != v else f"{v:.2f}")
    view = view.astype(object).where(view.notna(), "")
    lines = [view.to_string(index=False)] if len(view) else ["(no predictions)"]
    for video, summary in summaries.items():
        shares = ", ".join(f"{name} {share:.0%}" for name, share in sorted(summary["expression_share"].items(),
                                                                            key=lambda kv: -kv[1]) if share > 0)
        lines.append(f"{video}: {summary['frames']} frames, face found in {summary['face_found_share']:.0%}; "
                     f"time per expression: {shares or '-'}")
        if eyes := summary.get("eyes"):
            lines.append(f"{video}: eyes: {eye_events_line(eyes)}")
    return "\n".join(lines) + "\n"


def eye_events_line(eyes: dict) -> str:
    """A video's (or the last minute's) eye events in one line."""
    rate = "" if eyes["blinks_per_minute"] is None else f" ({eyes['blinks_per_minute']:.0f}/min"
    rate += f", mean {eyes['mean_blink_ms']:.0f} ms)" if eyes["mean_blink_ms"] else (")" if rate else "")
    perclos = "-" if eyes["perclos"] is None else f"{eyes['perclos']:.0%}"
    return (f"{eyes['blinks']} blinks{rate}, {len(eyes['closures'])} closures longer than a blink "
            f"(longest {eyes['longest_closure_ms'] / 1000:.1f} s), PERCLOS {perclos}, "
            f"winks {eyes['winks_left']} left / {eyes['winks_right']} right")


# --- evaluate and webcam ---------------------------------------------------------------------------------------
def run_evaluate(args) -> int:
    if not Path(args.root).is_dir():
        raise UsageError(f"{args.root}: no such folder")
    check_output(args.output)
    aliases = dict(EXPRESSION_FOLDER_ALIASES)
    for pair in args.alias:
        folder, sep, label = pair.partition("=")
        if not sep or not folder or not label:
            raise UsageError(f"--alias {pair!r}: expected FOLDER=LABEL")
        if label not in EXPRESSIONS:
            raise UsageError(f"--alias {pair!r}: unknown label {label!r}; labels: {', '.join(EXPRESSIONS)}")
        aliases[folder] = label
    check_aliases(aliases, "expression")
    check_common(args)
    from meshfer.recognizer import evaluate_folder

    with _recognizer(args) as recognizer:
        result = evaluate_folder(recognizer, args.root, aliases, progress=None)
    sys.stdout.write(evaluation_text(result))
    if args.output != "-":
        Path(args.output).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return EXIT_OK


def evaluation_text(result: dict) -> str:
    """`meshfer evaluate`'s report for a person: the headline figures, recall per class, the confusion matrix."""
    lines = [f"{result['root']}: {result['images']} images, approach {result['approach']}",
             f"accuracy {result['accuracy']:.1%}   macro-F1 {result['macro_f1']:.3f}   "
             f"no face {result['no_face_rate']:.1%} (counted as wrong)", ""]
    confusion = result["confusion"]
    names = [("no face" if name == NO_FACE_LABEL else name)[:8] for name in confusion["columns_predicted"]]
    width = max(8, *map(len, names))
    lines.append("true \\ predicted".ljust(16) + "".join(n.rjust(width + 1) for n in names) + "   recall")
    for label, counts in zip(confusion["rows_true"], confusion["counts"]):
        recall = result["per_class"][label]["recall"] if result["per_class"][label]["support"] else float("nan")
        lines.append(label.ljust(16) + "".join(str(c).rjust(width + 1) for c in counts) +
                     ("      -" if recall != recall else f"   {recall:.2f}"))
    for key, what in (("unknown_folders", "folders not scored (no such label; see --alias)"),
                      ("empty_folders", "label folders without images")):
        if result.get(key):
            lines.append(f"{what}: {', '.join(result[key])}")
    return "\n".join(lines) + "\n"


def run_webcam(args) -> int:
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("no display to show the webcam window on (DISPLAY is not set)")
    check_common(args)
    from meshfer.native import quiet_native_logs

    with quiet_native_logs():  # OpenCV's V4L2 and FFmpeg backends print a dozen lines when there is no camera
        capture = cv2.VideoCapture(args.camera)
    if not capture.isOpened():
        raise UsageError(f"camera {args.camera} cannot be opened (no camera, or in use)")
    capture.release()
    with _recognizer(args) as recognizer:
        for table, frame in recognizer.stream(args.camera, smoothing=args.smoothing, return_mesh=True):
            eyes = table.attrs.get("eye_events")
            status = (f"last minute: {eyes['blinks']} blinks, PERCLOS "
                      f"{'-' if eyes['perclos'] is None else format(eyes['perclos'], '.0%')}") if eyes else ""
            cv2.imshow("meshfer", draw(frame, table, status))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    cv2.destroyAllWindows()
    return EXIT_OK


def run_serve(args) -> int:
    import importlib.util

    missing = [name for name in ("starlette", "uvicorn", "websockets", "prometheus_client")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"meshfer serve needs {', '.join(missing)}: pip install \"meshfer[serve]\"")
    check_common(args)
    from meshfer.http_launcher import serve
    from meshfer.http_settings import TOKEN_ENV, ServiceSettings

    settings = ServiceSettings(approach=args.approach or "", models_dir=args.models_dir or "",
                               num_faces=args.num_faces, token=args.token,
                               max_upload_bytes=int(args.max_upload_mb * 2**20),
                               max_pixels=int(args.max_megapixels * 1e6), queue=args.queue,
                               cors_origin=args.cors_origin, host=args.host, read_timeout=args.read_timeout,
                               max_connections=args.max_connections, metrics=int(not args.no_metrics))
    if args.token and args.token != os.environ.get(TOKEN_ENV):
        _say(f"warning: a --token is visible to every user of this machine (ps); set {TOKEN_ENV} instead")
    return serve(settings, args.port, args.workers)


def _say(message: str) -> None:
    print(f"meshfer: {message}", file=sys.stderr)


def run_web_export(args) -> int:
    from meshfer.device_site import check_target, export_site
    from meshfer.landmarker import resolve_model
    from meshfer.runtime import bundled_models_dir

    target = Path(args.directory)
    check_target(target)
    if args.models_dir is not None and not Path(args.models_dir).is_dir():
        raise UsageError(f"--models-dir {args.models_dir}: no such folder")
    landmarker, _ = resolve_model()
    sizes = export_site(target, Path(args.models_dir) if args.models_dir else bundled_models_dir(), landmarker)
    print(f"{target}: {len(sizes)} files, {sum(sizes.values()) / 2**20:.1f} MiB; serve it with "
          f"`python -m http.server -d {target}` and open http://localhost:8000/")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("MESHFER_LOG", "WARNING"), format="meshfer: %(message)s")
    args = build_parser().parse_args(argv)
    from meshfer.process_setup import prepare_own_process

    prepare_own_process()
    try:
        return args.handler(args)
    except Exception as err:  # noqa: BLE001 - the known kinds below get one line; anything else is a bug
        from meshfer.card import ModelLoadError
        from meshfer.imageio import ImageReadError
        from meshfer.landmarker import LandmarkerModelError

        if isinstance(err, (UsageError, ImageReadError, ModelLoadError, LandmarkerModelError, ValueError, OSError)):
            print(f"meshfer: error: {err}", file=sys.stderr)
            return EXIT_ERROR
        raise
    except KeyboardInterrupt:
        print("meshfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`meshfer predict`, `meshfer evaluate` and `meshfer webcam`: the command line over meshfer.Recognizer.

Arguments and paths are checked before anything slow is imported or loaded, so a mistake costs a fraction of a
second; every problem is one line on stderr (`meshfer: ...`). Exit codes: 0 all inputs read, 1 some input gave
nothing (missing, unreadable, empty folder), 2 nothing could run (bad arguments, bad model).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path

import meshfer
from meshfer.labels import EXPRESSION_FOLDER_ALIASES, EXPRESSIONS, check_aliases

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2
FORMATS = ("table", "json", "csv")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".txt": "table"}
DECIMALS = 6


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
    predict.add_argument("--summary", metavar="JSON", help="videos: write the share of time per expression and "
                         "of frames with a face")
    predict.add_argument("-j", "--jobs", type=int, default=1, help="processes for many images: this one and JOBS-1 "
                         "workers (-1: one per core; default 1). Each worker needs about a second to start")
    predict.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bar on stderr (default: for many images or frames, on a terminal)")
    predict.set_defaults(format=None, handler=run_predict)

    evaluate = commands.add_parser("evaluate", parents=[common], help="score on a labelled folder",
                                   description="Accuracy, macro-F1 and no-face rate on images in <root>/<label>/ "
                                   "folders, e.g. another expression dataset (no face = wrong).")
    evaluate.add_argument("root", help="a folder with one sub-folder per label")
    evaluate.add_argument("--alias", action="append", default=[], metavar="FOLDER=LABEL",
                          help="map a folder name to a label (repeatable); adds to the built-in names")
    evaluate.add_argument("-o", "--output", default="-", help="JSON file to write (default: the terminal)")
    evaluate.set_defaults(handler=run_evaluate)

    webcam = commands.add_parser("webcam", parents=[common], help="live window with the labels overlaid",
                                 description="Live predictions from a camera in a window; q or Esc quits.")
    webcam.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    webcam.add_argument("--smoothing", type=positive_int, default=5, help="average probabilities over N frames")
    webcam.set_defaults(handler=run_webcam)
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


def check_output(path: str, what: str = "-o") -> None:
    if path == "-":
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{what} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} {path}: the folder {parent} is not writable")
    if Path(path).is_dir():
        raise UsageError(f"{what} {path}: is a folder, not a file")


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


def _recognizer(args):
    from meshfer.recognizer import Recognizer

    return Recognizer(approach=args.approach, models_dir=args.models_dir, eyes=not args.no_eyes,
                      num_faces=args.num_faces, landmarker_model=args.landmarker,
                      unsafe_landmarker=args.unsafe_landmarker)


# --- predict ---------------------------------------------------------------------------------------------------
def run_predict(args) -> int:
    fmt = output_format(args)
    if args.jobs == 0 or args.jobs < -1:
        raise UsageError(f"--jobs {args.jobs}: give 1 or more worker processes, or -1 for one per core")
    check_common(args)
    for option in ("output", "summary"):
        check_output(getattr(args, option) or "-", f"--{option}")
    images, videos, failed = gather_inputs(args.paths)
    if (args.plot or args.summary) and not videos:
        raise UsageError("--plot and --summary describe videos, and no video was given")
    if args.plot and len(videos) > 1 and Path(args.plot).suffix.lower() == ".png":
        raise UsageError(f"--plot {args.plot}: several videos need a folder to put one plot each in")
    if not images and not videos:
        return EXIT_SOME_FAILED
    tables, summaries = [], {}
    with _recognizer(args) as recognizer:
        if images:
            tables.append(recognizer.predict_many(images, progress=args.progress, return_mesh=bool(args.annotate),
                                                  n_jobs=args.jobs))
            if args.annotate:
                annotate_images(tables[-1], Path(args.annotate), [Path(p) for p in args.paths])
        for video in videos:
            table = predict_one_video(recognizer, video, args)
            if table is None:
                failed = True
                continue
            tables.append(table)
            summaries[str(video)] = summarize_video(table, video, args)
    result = combine(tables)
    write_table(result, fmt, args.output, summaries)
    if args.summary:
        Path(args.summary).write_text(json.dumps(summaries, indent=2) + "\n", encoding="utf-8")
    unreadable = result[(result["error"] != "") & (result["error"] != "no face found")]
    for row in unreadable.itertuples():
        _say(f"{row.path}: {row.error}")
    return EXIT_SOME_FAILED if failed or len(unreadable) else EXIT_OK


def gather_inputs(given_paths: list[str]) -> tuple[list[Path], list[Path], bool]:
    """The images and videos named or found in folders; says what is missing or skipped, one line each. The flag
    tells whether some input gave nothing."""
    from meshfer.imageio import folder_contents, is_video_path

    images, videos, failed = [], [], False
    for given in given_paths:
        path = Path(given)
        if not path.exists():
            _say(f"{given}: no such file or folder")
            failed = True
        elif path.is_dir():
            contents = folder_contents(path)
            images += contents.images
            videos += contents.videos
            if contents.skipped:
                names = ", ".join(p.name for p in contents.skipped[:3]) + (", ..." if len(contents.skipped) > 3
                                                                             else "")
                _say(f"{given}: skipped {len(contents.skipped)} file(s) that are neither images nor videos ({names})")
            if not contents.images and not contents.videos:
                _say(f"{given}: no images or videos in this folder")
                failed = True
        elif is_video_path(path):
            videos.append(path)
        else:
            images.append(path)
    return images, videos, failed


def predict_one_video(recognizer, video: Path, args):
    from meshfer.imageio import ImageReadError

    writer = VideoAnnotator(video, Path(args.annotate), [Path(p) for p in args.paths]) if args.annotate else None
    try:
        table = recognizer.predict_video(video, smoothing=args.smoothing, progress=args.progress,
                                         return_mesh=writer is not None,
                                         on_frame=writer.write if writer else None)
    except ImageReadError as err:
        _say(f"{video}: {err.reason}")
        return None
    finally:
        if writer:
            writer.close()
    if table.empty:
        _say(f"{video}: no frames could be read")
        return None
    table.insert(0, "path", str(video))
    return table


def summarize_video(table, video: Path, args) -> dict:
    from meshfer.video import plot_timeline, video_summary

    if args.plot:
        target = Path(args.plot)
        if target.suffix.lower() != ".png":
            target.mkdir(parents=True, exist_ok=True)
            target = target / f"{video.stem}.timeline.png"
        plot_timeline(table, target, title=video.name)
    return video_summary(table)


def combine(tables: list):
    """Images and videos in one table: path, frame, timestamp_ms, face, ..., error (error last); landmarks,
    fetched for drawing, are left out."""
    import pandas as pd

    from meshfer.recognizer import INTEGER_COLUMNS, MESH_COLUMNS

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
        text = table.to_csv(index=False, float_format=f"%.{DECIMALS}g")
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
    import pandas as pd

    out = {}
    for key, value in row.items():
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif isinstance(value, float):
            out[key] = float(f"{value:.{DECIMALS}g}")
        elif hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def terminal_table(table, summaries: dict) -> str:
    """The short view for a person: file, face, expression and score, eye states; one line per face."""
    shown = [c for c in ("path", "frame", "face", "expression", "expression_score", "left_eye", "right_eye",
                         "error") if c in table]
    view = table[shown].copy()
    if "expression_score" in view:
        view["expression_score"] = view["expression_score"].map(lambda v: "" if v != v else f"{v:.2f}")
    view = view.astype(object).where(view.notna(), "").rename(columns={"expression_score": "score"})
    lines = [view.to_string(index=False)] if len(view) else ["(no predictions)"]
    for video, summary in summaries.items():
        shares = ", ".join(f"{name} {share:.0%}" for name, share in sorted(summary["expression_share"].items(),
                                                                            key=lambda kv: -kv[1]) if share > 0)
        lines.append(f"{video}: {summary['frames']} frames, face found in {summary['face_found_share']:.0%}; "
                     f"time per expression: {shares or '-'}")
    return "\n".join(lines) + "\n"


# --- drawing ---------------------------------------------------------------------------------------------------
def annotated_path(source: Path, out_dir: Path, roots: list[Path], suffix: str) -> Path:
    """Where the annotated copy of ``source`` goes: its path relative to the input (file or folder) it came from,
    below ``out_dir``, so that a/x.jpg and b/x.jpg do not overwrite each other."""
    source = source.resolve()
    for root in roots:
        root = root.resolve()
        if root.is_dir() and root in source.parents:
            relative = Path(root.name) / source.relative_to(root)
            break
    else:
        relative = Path(source.name)
    return (out_dir / relative).with_suffix(suffix)


def annotate_images(table, out_dir: Path, roots: list[Path]) -> None:
    import cv2

    from meshfer.imageio import ImageReadError, read_rgb

    written: set[Path] = set()
    for path, rows in table.groupby("path", sort=False):
        try:
            rgb = read_rgb(path)
        except ImageReadError:
            continue
        target = _unique(annotated_path(Path(path), out_dir, roots, ".png"), written)
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), draw(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), rows[rows["error"] == ""]))


def _unique(target: Path, written: set[Path]) -> Path:
    """``x.png``, else ``x-2.png``...: two inputs never write the same file."""
    candidate, n = target, 1
    while candidate in written:
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    written.add(candidate)
    return candidate


class VideoAnnotator:
    """Writes a video's frames with the mesh outline and labels drawn on them."""

    def __init__(self, source: Path, out_dir: Path, roots: list[Path]):
        self.target = annotated_path(source, out_dir, roots, ".mp4")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.writer = None
        self.fps = _fps(source)

    def write(self, table, bgr) -> None:
        import cv2

        frame = draw(bgr, table)
        if self.writer is None:
            self.writer = cv2.VideoWriter(str(self.target), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          (frame.shape[1], frame.shape[0]))
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def _fps(source: Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(source))
    try:
        return capture.get(cv2.CAP_PROP_FPS) or 25.0
    finally:
        capture.release()


def draw(bgr, table):
    """The mesh outline (contours of face, eyes, brows, lips) and the labels of each face, on a BGR image; labels
    are kept inside the picture."""
    import cv2
    import numpy as np

    from meshfer.mesh import contour_edges

    scale = max(1.0, 256 / min(bgr.shape[:2]))  # tiny images are enlarged so the drawing stays legible
    canvas = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else bgr.copy()
    font, size, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    for row in table.itertuples():
        if isinstance(getattr(row, "landmarks", None), np.ndarray):
            pts = (row.landmarks[:, :2] * scale).astype(int)
            for a, b in contour_edges():
                cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), (0, 255, 0), 1, cv2.LINE_AA)
        label = f"{row.expression} {row.expression_score:.0%}"
        if isinstance(getattr(row, "left_eye", None), str):
            label += f" eyes {row.left_eye}/{row.right_eye}"
        (width, height), _ = cv2.getTextSize(label, font, size, thickness)
        x = int(min(max(0, row.x_min * scale), max(0, canvas.shape[1] - width - 2)))
        y = int(max(height + 2, row.y_min * scale - 4))
        cv2.putText(canvas, label, (x, y), font, size, (0, 0, 255), thickness, cv2.LINE_AA)
    return canvas


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
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return EXIT_OK


def run_webcam(args) -> int:
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("no display to show the webcam window on (DISPLAY is not set)")
    check_common(args)
    capture = cv2.VideoCapture(args.camera)
    if not capture.isOpened():
        raise UsageError(f"camera {args.camera} cannot be opened (no camera, or in use)")
    capture.release()
    with _recognizer(args) as recognizer:
        for table, frame in recognizer.stream(args.camera, smoothing=args.smoothing, return_mesh=True):
            cv2.imshow("meshfer", draw(frame, table))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    cv2.destroyAllWindows()
    return EXIT_OK


def _say(message: str) -> None:
    print(f"meshfer: {message}", file=sys.stderr)


def return_freed_memory_to_the_system() -> None:
    """Fix glibc's threshold for giving freed heap memory back. By default it grows with the first large block
    freed, so the memory that parsing the model files passes through stays with the process: ~70 MB of a
    prediction's peak. (The command owns its process; the library leaves malloc alone.) A no-op off glibc."""
    import ctypes
    import ctypes.util

    M_TRIM_THRESHOLD = -1
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(M_TRIM_THRESHOLD, 8 << 20)
    except (OSError, AttributeError, TypeError):
        pass


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("MESHFER_LOG", "WARNING"), format="meshfer: %(message)s")
    args = build_parser().parse_args(argv)
    return_freed_memory_to_the_system()
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

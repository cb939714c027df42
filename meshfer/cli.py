"""`meshfer predict`, `meshfer evaluate` and `meshfer webcam`: the command line over meshfer.Recognizer."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import meshfer
from meshfer.imageio import ImageReadError
from meshfer.labels import check_aliases

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshfer", description="Facial expressions and eye closeness from "
                                     "MediaPipe face meshes.")
    parser.add_argument("--version", action="version", version=f"meshfer {meshfer.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--approach", default=None, help="expression model: pca_svm, blendshape_svm, gnn, "
                        "mesh_svm, mesh_hgb, aligned_cnn or ensemble (default: the best on validation)")
    common.add_argument("--models-dir", default=None, help="a pipeline's models/ folder (default: the bundled ones)")
    common.add_argument("--num-faces", type=int, default=4, help="at most this many faces per image (default 4)")
    common.add_argument("--no-eyes", action="store_true", help="skip the eye-closeness model")
    common.add_argument("--landmarker", default=None, help="another face_landmarker.task (hash still checked)")

    predict = commands.add_parser("predict", parents=[common], help="images, folders and videos",
                                  description="Predict on images, folders (recursively) and video files.")
    predict.add_argument("paths", nargs="+", help="image files, folders or videos")
    fmt = predict.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="JSON records (default)")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV, one row per face")
    predict.add_argument("-o", "--output", default="-", help="file to write to (default: stdout)")
    predict.add_argument("--annotate", metavar="OUT_DIR", help="write each image with mesh outline and label")
    predict.add_argument("--smoothing", type=int, default=1, help="videos: average probabilities over N frames")
    predict.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for many images (-1: all)")
    predict.set_defaults(format="json", handler=run_predict)

    evaluate = commands.add_parser("evaluate", parents=[common], help="score on a labelled folder",
                                   description="Accuracy, macro-F1 and no-face rate on images in <root>/<label>/ "
                                   "folders, e.g. another expression dataset (no face = wrong).")
    evaluate.add_argument("root", help="a folder with one sub-folder per label")
    evaluate.add_argument("--alias", action="append", default=[], metavar="FOLDER=LABEL",
                          help="map a folder name to a label (repeatable); adds to the built-in names")
    evaluate.add_argument("-o", "--output", default="-", help="JSON file to write (default: stdout)")
    evaluate.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (-1: all)")
    evaluate.set_defaults(handler=run_evaluate)

    webcam = commands.add_parser("webcam", parents=[common], help="live window with the label overlaid",
                                 description="Live predictions from a camera in a window; q or Esc quits.")
    webcam.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    webcam.add_argument("--smoothing", type=int, default=5, help="average probabilities over N frames")
    webcam.set_defaults(handler=run_webcam)
    return parser


def _recognizer(args, running_mode: str = "image"):
    from meshfer.recognizer import Recognizer

    return Recognizer(approach=args.approach, models_dir=args.models_dir, eyes=not args.no_eyes,
                      num_faces=args.num_faces, landmarker_model=args.landmarker, running_mode=running_mode)


def run_predict(args) -> int:
    from meshfer.recognizer import expand_paths, is_video

    missing = [p for p in args.paths if not Path(p).exists()]
    for path in missing:
        print(f"meshfer: {path}: no such file or folder", file=sys.stderr)
    paths = [p for p in args.paths if Path(p).exists()]
    videos = [p for p in paths if Path(p).is_file() and is_video(p)]
    images = [p for p in paths if p not in videos]
    tables = []
    if images:
        with _recognizer(args) as recognizer:
            files = list(expand_paths(images))
            if not files:
                print(f"meshfer: no images in {', '.join(images)}", file=sys.stderr)
            tables.append(recognizer.predict_many(files, progress=args.output != "-", n_jobs=args.jobs))
            if args.annotate:
                annotate_all(recognizer, files, Path(args.annotate))
    for video in videos:
        with _recognizer(args, running_mode="video") as recognizer:
            try:
                frames = list(recognizer.predict_video(video, smoothing=args.smoothing))
            except ImageReadError as err:
                frames = [pd.DataFrame({"error": [err.reason]})]
            table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"error": ["no frames"]})
            table.insert(0, "path", video)
            tables.append(table)
    filled = [t for t in tables if not t.empty]
    result = pd.concat(filled, ignore_index=True) if filled else pd.DataFrame(columns=["path", "error"])
    write_table(result, args.format, args.output)
    failed = result.get("error", pd.Series(dtype=str)).fillna("").str.len().gt(0)
    for row in result[failed].itertuples():
        print(f"meshfer: {row.path}: {row.error}", file=sys.stderr)
    unreadable = failed & (result.get("error") != "no face found")
    return EXIT_SOME_FAILED if missing or unreadable.any() else EXIT_OK


def run_evaluate(args) -> int:
    import json

    from meshfer.recognizer import FOLDER_ALIASES, evaluate_folder

    aliases = dict(FOLDER_ALIASES)
    for pair in args.alias:
        folder, sep, label = pair.partition("=")
        if not sep:
            raise UsageError(f"--alias {pair!r}: expected FOLDER=LABEL")
        aliases[folder] = label
    with _recognizer(args) as recognizer:
        result = evaluate_folder(recognizer, args.root, check_aliases(aliases, "expression"), n_jobs=args.jobs,
                                 progress=args.output != "-")
    text = json.dumps(result, indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return EXIT_OK


def write_table(table: pd.DataFrame, fmt: str, output: str) -> None:
    if fmt == "csv":
        text = table.to_csv(index=False)
    else:
        text = table.to_json(orient="records", indent=2, double_precision=6)
    if output == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(output).write_text(text + "\n", encoding="utf-8")


def annotate_all(recognizer, files: list[Path], out_dir: Path) -> None:
    import cv2

    from meshfer.imageio import read_rgb

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            rgb = read_rgb(path)
        except ImageReadError:
            continue
        table = recognizer.predict(rgb, return_mesh=True)
        cv2.imwrite(str(out_dir / f"{path.stem}.png"), draw(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), table))


def draw(bgr: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    """The mesh outline (contours of face, eyes, brows, lips) and the label of each face, on a BGR image."""
    import cv2

    from meshfer.mesh import contour_edges

    scale = max(1.0, 256 / min(bgr.shape[:2]))  # tiny images are enlarged so the drawing stays legible
    canvas = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else bgr.copy()
    for row in table.itertuples():
        if hasattr(row, "landmarks"):
            pts = (np.asarray(row.landmarks)[:, :2] * scale).astype(int)
            for a, b in contour_edges():
                cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), (0, 255, 0), 1, cv2.LINE_AA)
        label = f"{row.expression} {row.expression_score:.0%}"
        if hasattr(row, "left_eye"):
            label += f" eyes {row.left_eye}/{row.right_eye}"
        origin = (int(row.x_min * scale), max(12, int(row.y_min * scale) - 4))
        cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1, cv2.LINE_AA)
    return canvas


def run_webcam(args) -> int:
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("no display to show the webcam window on (DISPLAY is not set)")
    capture = cv2.VideoCapture(args.camera)
    if not capture.isOpened():
        raise UsageError(f"camera {args.camera} cannot be opened (no camera, or in use)")
    capture.release()
    with _recognizer(args, running_mode="video") as recognizer:
        for table in recognizer.predict_video(args.camera, smoothing=args.smoothing, return_mesh=True,
                                              with_frames=True):
            frame = table.attrs.get("frame_bgr")
            if frame is None:
                continue
            cv2.imshow("meshfer", draw(frame, table))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    cv2.destroyAllWindows()
    return EXIT_OK


class UsageError(RuntimeError):
    """A problem the user can fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    from meshfer.landmarker import LandmarkerModelError
    from meshfer.models import ModelLoadError

    logging.basicConfig(level=os.environ.get("MESHFER_LOG", "WARNING"), format="meshfer: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, ImageReadError, ModelLoadError, LandmarkerModelError, ValueError) as err:
        print(f"meshfer: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

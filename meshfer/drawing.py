"""Drawing on images and video frames: each face's mesh outline, box, number and labels (``meshfer predict
--annotate``, ``meshfer webcam``), and where an annotated copy of an input is written. Serving wing: OpenCV and numpy.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module at start; numpy, OpenCV and pandas load when it draws
    import numpy as np
    import pandas as pd

ANNOTATED_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}  # what OpenCV writes


def annotated_path(source: Path, out_dir: Path, roots: list[Path], suffix: str | None = None,
                   taken: set[Path] | None = None) -> Path:
    """Where the annotated copy of ``source`` goes: its path relative to the input (file or folder) it came from,
    below ``out_dir``, so that a/x.jpg and b/x.jpg do not overwrite each other; in the source's format unless
    ``suffix`` says otherwise. A copy that would land in its source's own folder (``--annotate .``) is named
    ``<name>.annotated<suffix>``, so it neither replaces the input nor a file beside it (``clip.avi`` gives
    ``clip.annotated.mp4``, not ``clip.mp4``); a path in ``taken`` (the inputs, what this run wrote) gets ``-2``,
    ... added."""
    source = source.resolve()
    for root in roots:
        root = root.resolve()
        if root.is_dir() and root in source.parents:
            relative = Path(root.name) / source.relative_to(root)
            break
    else:
        relative = Path(source.name)
    suffix = suffix or (source.suffix if source.suffix.lower() in ANNOTATED_IMAGE_SUFFIXES else ".png")
    target = (out_dir / relative).with_suffix(suffix)
    if target.resolve().parent == source.parent:
        target = target.with_name(f"{target.stem}.annotated{suffix}")
    taken = taken if taken is not None else set()
    candidate, n = target, 1
    while candidate.resolve() in taken:
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{suffix}")
    taken.add(candidate.resolve())
    return candidate


def annotate_images(table: pd.DataFrame, out_dir: Path, roots: list[Path], taken: set[Path]) -> None:
    import cv2

    from meshfer.imageio import ImageReadError, read_rgb

    for path, rows in table.groupby("path", sort=False):
        try:
            rgb = read_rgb(path)
        except ImageReadError:
            continue
        target = annotated_path(Path(path), out_dir, roots, taken=taken)
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), draw(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), rows[rows["error"] == ""]))


class VideoAnnotator:
    """Writes a video's frames with the mesh outline and labels drawn on them."""

    def __init__(self, source: Path, out_dir: Path, roots: list[Path], taken: set[Path]):
        self.target = annotated_path(source, out_dir, roots, ".mp4", taken)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.writer = None
        self.fps = _fps(source)

    def write(self, table: pd.DataFrame, bgr: np.ndarray) -> None:
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


def draw(bgr: np.ndarray, table: pd.DataFrame, status: str = "") -> np.ndarray:
    """The mesh outline (contours of face, eyes, brows, lips), each face's box, number and labels on a filled
    background (legible on hair or a hat), kept inside the picture; "no face" on a frame without one; ``status``
    (e.g. the webcam's blink count) along the bottom."""
    import cv2
    import numpy as np

    from meshfer.mesh import contour_edges

    scale = max(1.0, 256 / min(bgr.shape[:2]))  # tiny images are enlarged so the drawing stays legible
    canvas = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else bgr.copy()
    text_size = max(0.5, min(canvas.shape[:2]) / 900)
    for row in table.itertuples():
        if isinstance(getattr(row, "landmarks", None), np.ndarray):
            pts = (row.landmarks[:, :2] * scale).astype(int)
            for a, b in contour_edges():
                cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), (0, 255, 0), 1, cv2.LINE_AA)
        box = [int(round(v * scale)) for v in (row.x_min, row.y_min, row.x_max, row.y_max)]
        cv2.rectangle(canvas, tuple(box[:2]), tuple(box[2:]), LABEL_BACKGROUND, max(1, round(text_size * 2)))
        label = f"#{int(row.face)} {row.expression} {row.expression_score:.0%}"  # the table's face number
        if isinstance(getattr(row, "left_eye", None), str):
            label += f" eyes {row.left_eye}/{row.right_eye}"
        _label(canvas, label, box[0], box[1], text_size, above=True)
    if table.empty:
        _label(canvas, "no face", 4, 4, text_size, above=False)
    if status:
        _label(canvas, status, 4, canvas.shape[0] - 4, text_size, above=True)
    return canvas


LABEL_BACKGROUND = (255, 200, 0)  # BGR: a light blue that white-on-dark and black text both read on; black text


def _label(canvas, text: str, x: int, y: int, text_size: float, above: bool) -> None:
    """Black text on a filled box whose corner is (x, y): above that point or below it, moved inside the image."""
    import cv2

    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(text_size * 2))
    (width, height), baseline = cv2.getTextSize(text, font, text_size, thickness)
    pad = max(2, height // 4)
    box_w, box_h = width + 2 * pad, height + baseline + 2 * pad
    left = min(max(0, x), max(0, canvas.shape[1] - box_w))
    top = y - box_h if above else y
    top = min(max(0, top), max(0, canvas.shape[0] - box_h))
    cv2.rectangle(canvas, (left, top), (left + box_w, top + box_h), LABEL_BACKGROUND, cv2.FILLED)
    cv2.putText(canvas, text, (left + pad, top + pad + height), font, text_size, (0, 0, 0), thickness, cv2.LINE_AA)

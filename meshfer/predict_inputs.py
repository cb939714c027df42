"""What `meshfer predict` takes and how it orders what it gives: the inputs found in the paths given, a video's
rows, and the rows put in the order of the inputs. Shared by the local command and `--dask` (its workers too);
light to import: no model is loaded here."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def gather_inputs(given_paths: list[str], say: Callable[[str], None]
                  ) -> tuple[list[Path], list[Path], list[tuple[str, str]]]:
    """The images and videos named or found in folders, and (input, why it gives nothing) for the rest: each of
    those gets a row in the output. Special files (a FIFO, a device) go with the images, whose reading refuses
    them at once, so that they get a row too; other files that are neither are named through ``say``."""
    from meshfer.imageio import folder_contents, is_video_path

    images, videos, problems = [], [], []
    for given in given_paths:
        path = Path(given)
        if not path.exists():
            problems.append((given, "no such file or folder"))
        elif path.is_dir():
            contents = folder_contents(path)
            special = [p for p in contents.skipped if not p.is_file()]
            other = [p for p in contents.skipped if p.is_file()]
            images += contents.images + special
            videos += contents.videos
            if other:
                names = ", ".join(p.name for p in other[:3]) + (", ..." if len(other) > 3 else "")
                say(f"{given}: skipped {len(other)} file(s) that are neither images nor videos ({names})")
            if not contents.images and not contents.videos:
                problems.append((given, "no images or videos in this folder"))
        elif is_video_path(path):
            videos.append(path)
        else:
            images.append(path)
    return images, videos, problems


def video_table(recognizer, video: Path, name: str, smoothing: int, progress: bool | None, writer=None):
    """A video's rows, ``path`` = ``name``; an unreadable one gives a row saying why. ``writer`` (a
    VideoAnnotator) sees every frame."""
    import pandas as pd

    from meshfer.imageio import ImageReadError

    try:
        table = recognizer.predict_video(video, smoothing=smoothing, progress=progress,
                                         return_mesh=writer is not None, on_frame=writer.write if writer else None)
    except ImageReadError as err:
        table = pd.DataFrame({"error": [err.reason]})
    if table.empty:
        table = pd.DataFrame({"error": ["no frames could be read"]})
    table.insert(0, "path", name)
    return table


def in_input_order(table, given_paths: list[str]):
    """Rows in the order their inputs were given (images, videos and missing inputs are gathered apart)."""
    import numpy as np

    givens = [Path(given) for given in given_paths]

    def position(path: str) -> int:
        path = Path(path)
        return next((i for i, given in enumerate(givens) if path == given or given in path.parents), len(givens))

    positions = {path: position(path) for path in table["path"].unique()}
    order = np.argsort(table["path"].map(positions).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)

"""Device mode's files: what the page needs to run MediaPipe and the models in the browser, by URL.

Both ways of using device mode lay them out the same, relative to the page:
``device/face_landmarker.task``, ``device/models/index.json`` (the approaches, their labels and headline metrics:
what ``GET /v1/models`` lists; and mesh.py's tables), ``device/models/<approach>/card.json`` and ``model.onnx``
(and an ensemble's members and combiner), and the page's own files under ``static/`` (with the vendored runtimes in
``static/vendor/``).
``meshfer serve`` answers ``/device/...`` from its models folder (only those files, by name: no path from a request
reaches the file system); ``meshfer web export DIR`` writes them as a static site.

Serving wing: the standard library and meshfer's own modules only (no web framework: the export needs none).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from meshfer import mesh
from meshfer.card import CARD_FILE, ONNX_FILE, EnsembleCard, read_card
from meshfer.imageio import MAX_PIXELS
from meshfer.labels import EXPRESSIONS, EYE_STATES
from meshfer.runtime import available_approaches, default_approach

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "assets" / "web"
EYES_APPROACH = "eyes"
INDEX_FILE = "index.json"
LANDMARKER_FILE = "face_landmarker.task"
# The exported page runs in device mode only (it has no server): app.js reads this attribute.
STATIC_SITE_MARK = ('<html lang="en">', '<html lang="en" data-site="static">')
# A static server sends no headers, so the exported page carries its policy itself: its own files, wasm compiled from
# them, nothing remote (MediaPipe's vendored bundle no longer posts its usage metrics; this would block them too).
# mesh.py's tables that device/features.js reads: the page gets them with the models index, so they live in one place.
MESH_TABLES = ("N_LANDMARKS", "BLENDSHAPE_NAMES", "EYE_CONTOURS", "EYE_CORNERS", "EYE_LID_MIDPOINTS", "IRIS",
               "EYE_BLENDSHAPE_PREFIXES", "PERIOCULAR_BLENDSHAPE_PREFIXES", "PERIOCULAR_BLENDSHAPES_BOTH_SIDES",
               "SUBJECT_SIDE")
EXPORT_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
              "media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
              "base-uri 'none'; form-action 'none'")


def models_index(models_dir: Path) -> dict:
    """The approaches of a models folder as the page lists them (the fields of ``GET /v1/models`` it reads), the
    Recognizer's default pixel limit, and the mesh tables the page's feature code needs."""
    approaches = []
    for name in available_approaches(models_dir):
        card = read_card(models_dir / name / CARD_FILE)
        metrics = {split: values["acc"] for split, values in card.metrics.items()
                   if isinstance(values, dict) and "acc" in values}
        approaches.append({"name": name, "labels": list(card.labels), "metrics": metrics})
    return {"default": default_approach(models_dir), "approaches": approaches, "expressions": list(EXPRESSIONS),
            "eye_states": list(EYE_STATES), "max_pixels": MAX_PIXELS,
            "mesh": json.loads(json.dumps({table: getattr(mesh, table) for table in MESH_TABLES}))}


def model_files(models_dir: Path) -> dict[str, Path]:
    """Every model file device mode may read, by its path under ``device/models/``: each expression approach's and
    the eye model's card and ONNX file, and an ensemble's combiner."""
    files = {}
    for name in [*available_approaches(models_dir), EYES_APPROACH]:
        folder = models_dir / name
        card = read_card(folder / CARD_FILE)
        names = [CARD_FILE]
        if not isinstance(card, EnsembleCard):
            names.append(ONNX_FILE)
        elif card.combiner != "mean":
            names.append(card.combiner)
        files.update({f"{name}/{file}": folder / file for file in names if (folder / file).is_file()})
    return files


def device_files(models_dir: Path, landmarker: Path) -> dict[str, Path]:
    """The files under ``device/`` other than the generated index, by path."""
    return {LANDMARKER_FILE: landmarker, **{f"models/{key}": path for key, path in model_files(models_dir).items()}}


def check_target(target: Path) -> None:
    """An export goes into a new or empty folder only: it never overwrites or mixes with files already there."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists and is not an empty folder; choose a new one")


def export_site(target: Path, models_dir: Path, landmarker: Path) -> dict[str, int]:
    """Write the static site into ``target`` (which must be empty or new); returns its files' sizes by path."""
    check_target(target)
    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    old, new = STATIC_SITE_MARK
    if old not in page:
        raise RuntimeError(f"{WEB_DIR / 'index.html'} has no {old!r} to mark as a static site")
    page = page.replace(old, new, 1).replace('"/static/', '"static/').replace(
        "<meta charset=\"utf-8\">", f"<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" "
        f"content=\"{EXPORT_CSP}\">", 1)
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html").write_text(page, encoding="utf-8")
    shutil.copytree(WEB_DIR, target / "static", ignore=shutil.ignore_patterns("index.html"))
    for relative, source in device_files(models_dir, landmarker).items():
        destination = target / "device" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    (target / "device" / "models" / INDEX_FILE).write_text(json.dumps(models_index(models_dir), indent=2) + "\n",
                                                          encoding="utf-8")
    return {str(p.relative_to(target)): p.stat().st_size for p in sorted(target.rglob("*")) if p.is_file()}

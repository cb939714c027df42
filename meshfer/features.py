"""Feature kinds: pure, vectorised functions from face meshes to feature arrays, each with a version.

A model records the feature kind, version and params it was trained with; the recognizer recomputes exactly
the same function at prediction time, so training and serving cannot drift apart.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from meshfer import mesh

EPS = 1e-6


@dataclass(frozen=True)
class MeshBatch:
    points: np.ndarray  # (N, 478, 3) pixel coordinates
    blendshapes: np.ndarray  # (N, 52)
    pose: np.ndarray  # (N, 4, 4)
    # Per face, the RGB image it was found in; only the kinds that look at pixels (needs_image) read it.
    images: Sequence[np.ndarray] | None = None
    # Features already computed for this batch, by params: ensemble members often share a kind.
    computed: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class FeatureKind:
    name: str
    version: int
    compute: Callable[[MeshBatch, dict], np.ndarray]
    # Whether the kind may look at pixels; a function of the params when only some settings do.
    needs_image: bool | Callable[[dict], bool] = False

    def reads_pixels(self, params: dict) -> bool:
        return bool(self.needs_image(params) if callable(self.needs_image) else self.needs_image)


FEATURES: dict[str, FeatureKind] = {}


def feature_kind(name: str, version: int, needs_image: bool | Callable[[dict], bool] = False):
    def register(fn):
        FEATURES[name] = FeatureKind(name, version, fn, needs_image)
        return fn

    return register


def compute_features(batch: MeshBatch, params: dict) -> np.ndarray:
    """Features of ``params['kind']`` for every face of the batch, as float32."""
    key = json.dumps(params, sort_keys=True)
    if key not in batch.computed:
        kind = get_kind(params["kind"])
        if kind.reads_pixels(params) and (batch.images is None or len(batch.images) != len(batch)):
            raise ValueError(f"feature kind {kind.name!r} looks at pixels: the batch needs the image of every face")
        batch.computed[key] = np.asarray(kind.compute(batch, params), dtype=np.float32)
    return batch.computed[key]


def get_kind(name: str) -> FeatureKind:
    try:
        return FEATURES[name]
    except KeyError:
        raise ValueError(f"unknown feature kind {name!r}; known: {sorted(FEATURES)}") from None


def _norm(vectors: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vectors, axis=-1)


def _coords(points: np.ndarray, dims: int) -> np.ndarray:
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, not {dims}")
    return points[..., :dims].astype(np.float64)


@feature_kind("distances", version=1)
def distances(batch: MeshBatch, params: dict) -> np.ndarray:
    """Distance of every landmark to a reference landmark, divided by a rigid reference distance.

    The default divisor is nose tip (4) to forehead (151): both points sit on bone, so expressions barely move
    them, which makes the ratio free of face size and position without absorbing what the expression changes.
    """
    pts = _coords(batch.points, params.get("dims", 3))
    ref = int(params.get("reference", mesh.NOSE_TIP))
    a, b = params.get("scale_pair", (mesh.NOSE_TIP, mesh.FOREHEAD))
    scale = np.maximum(_norm(pts[:, a] - pts[:, b]), EPS)
    dist = _norm(pts - pts[:, ref : ref + 1]) / scale[:, None]
    return np.delete(dist, ref, axis=1)  # the reference's distance to itself is always 0


@feature_kind("blendshapes", version=1)
def blendshapes(batch: MeshBatch, params: dict) -> np.ndarray:
    """MediaPipe's 52 blendshape scores, optionally followed by the ``distances`` features."""
    scores = batch.blendshapes.astype(np.float64)
    if params.get("append_distances"):
        return np.hstack([scores, distances(batch, params.get("distances", {}))])
    return scores


def centred_scaled(points: np.ndarray, dims: int) -> np.ndarray:
    """Translate each face's centroid to 0 and scale its RMS radius to 1."""
    pts = _coords(points, dims)
    pts = pts - pts.mean(axis=1, keepdims=True)
    radius = np.sqrt((pts**2).sum(axis=2).mean(axis=1))
    return pts / np.maximum(radius, EPS)[:, None, None]


def level_eyes(points: np.ndarray) -> np.ndarray:
    """Rotate each face in the image plane so that the line between the outer eye corners is horizontal."""
    left, right = mesh.EYE_CORNERS["left"][0], mesh.EYE_CORNERS["right"][1]
    delta = points[:, right, :2] - points[:, left, :2]
    angle = np.arctan2(delta[:, 1], delta[:, 0])
    cos, sin = np.cos(-angle), np.sin(-angle)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    out = points.astype(np.float64).copy()
    out[..., :2] = np.einsum("nij,nkj->nki", rot, points[..., :2])
    return out


@feature_kind("mesh_nodes", version=1)
def mesh_nodes(batch: MeshBatch, params: dict) -> np.ndarray:
    """Per-node features for the graph network: (N, 478, dims) coordinates, centred and scaled per face."""
    points = level_eyes(batch.points) if params.get("level_eyes") else batch.points
    return centred_scaled(points, params.get("dims", 2))


@feature_kind("aligned_mesh", version=1)
def aligned_mesh(batch: MeshBatch, params: dict) -> np.ndarray:
    """Flattened landmark coordinates after removing position, size and head roll, optionally followed by
    the 52 blendshapes: (N, 478 * dims [+ 52]). The model decides which columns to compress (``pca_columns``)."""
    coords = mesh_nodes(batch, {"dims": params.get("dims", 2), "level_eyes": True}).reshape(len(batch), -1)
    if params.get("append_blendshapes", True):
        return np.hstack([coords, batch.blendshapes.astype(np.float64)])
    return coords


def contour_area(points: np.ndarray, side: str) -> np.ndarray:
    """(N,): the area inside one eye's contour (shoelace formula), in the points' units squared."""
    xy = points[:, list(mesh.EYE_CONTOURS[side]), :2].astype(np.float64)
    x, y = xy[..., 0], xy[..., 1]
    return 0.5 * np.abs((x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1))


def eye_measures(points: np.ndarray, side: str) -> np.ndarray:
    """(N, 2): eye area / width^2 (shoelace polygon area) and width / height of one eye.

    A shut eye has a height of (nearly) zero; width / height is then capped by dividing by a floor of
    ``EPS`` times the width, so the feature stays finite and still says "very closed".
    """
    area = contour_area(points, side)
    c0, c1 = mesh.EYE_CORNERS[side]
    top, bottom = mesh.EYE_LID_MIDPOINTS[side]
    width = _norm(points[:, c0, :2] - points[:, c1, :2])
    height = _norm(points[:, top, :2] - points[:, bottom, :2])
    width = np.maximum(width, EPS)
    ratio = width / np.maximum(height, width * 1e-3)
    return np.stack([area / width**2, ratio], axis=1)


def iris_measures(points: np.ndarray, side: str) -> np.ndarray:
    """(N, 3): eye height, upper-lid gap and lower-lid gap, in units of the iris radius.

    Measured across the eye axis (corner to corner), so head roll does not matter. The labels are defined by
    the lids against the iris (wide: sclera above the iris; closed: no iris), which these measure directly.
    """
    radius, upper, lower = _iris_frame(points[..., :2].astype(np.float64), side)
    return np.stack([(upper + lower) / radius, upper / radius, lower / radius], axis=1)


def _disc_band_area(radius: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Area of a disc of ``radius`` (centred at 0) between the lines y = low and y = high (low <= high)."""
    def below(y: np.ndarray) -> np.ndarray:  # the disc's area under y: integral of 2 sqrt(r^2 - t^2) dt from -r
        y = np.clip(y, -radius, radius)
        return y * np.sqrt(np.maximum(radius**2 - y**2, 0)) + radius**2 * (np.arcsin(y / radius) + np.pi / 2)
    return np.maximum(below(high) - below(low), 0)


# The sclera measure's version: a model records it in its feature params (``sclera: 1``), so a later measure is a
# new number, never a silent change under a trained model.
SCLERA_VERSIONS = (1,)


def sclera_area(points: np.ndarray, side: str, version: int = 1) -> np.ndarray:
    """(N,): the visible sclera of one eye, normalised by the eye's size: the eye contour's area (shoelace) less
    the part of the iris disc that lies between the lids, divided by the eye's width squared.

    The disc is clipped by the two lid lines (across the eye axis, through the lid midpoints), so a lid covering the
    top of the iris (open) or most of it (narrowed) leaves less iris; clipped at 0 where the mesh puts the disc
    beyond the contour. Wide eyes show the most white, closed ones none.
    """
    if version not in SCLERA_VERSIONS:
        raise ValueError(f"sclera version {version} is unknown (known: {', '.join(map(str, SCLERA_VERSIONS))})")
    xy = points[..., :2].astype(np.float64)
    area = contour_area(points, side)
    radius, upper, lower = _iris_frame(xy, side)
    iris = _disc_band_area(radius, -lower, upper)
    c0, c1 = mesh.EYE_CORNERS[side]
    width = np.maximum(_norm(xy[:, c0] - xy[:, c1]), EPS)
    return np.maximum(area - iris, 0) / width**2


def _iris_frame(xy: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per face: the iris radius, and the upper and lower lid midpoints' distances from the iris centre across the
    eye axis (corner to corner, so head roll does not matter)."""
    c0, c1 = mesh.EYE_CORNERS[side]
    axis = xy[:, c1] - xy[:, c0]
    axis /= np.maximum(_norm(axis), EPS)[:, None]
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1)
    centre, ring = mesh.IRIS[side]
    radius = np.maximum((_norm(xy[:, ring[0]] - xy[:, ring[2]]) + _norm(xy[:, ring[1]] - xy[:, ring[3]])) / 4, EPS)
    top, bottom = mesh.EYE_LID_MIDPOINTS[side]
    across = lambda idx: ((xy[:, idx] - xy[:, centre]) * normal).sum(axis=1)  # noqa: E731
    return radius, np.abs(across(top)), np.abs(across(bottom))


@feature_kind("eye_shape", version=1)
def eye_shape(batch: MeshBatch, params: dict) -> np.ndarray:
    """The seed's two measures per eye: the lids' width-to-height ratio and the visible sclera (``sclera_area``,
    version ``params['sclera']``); the left eye's then the right eye's, (N, 4), or their mean with
    ``combine: mean``, (N, 2)."""
    per_eye = [np.stack([eye_measures(batch.points, side)[:, 1],
                         sclera_area(batch.points, side, params.get("sclera", 1))], axis=1)
               for side in ("left", "right")]
    if params.get("combine", "per_eye") == "mean":
        return (per_eye[0] + per_eye[1]) / 2
    return np.hstack(per_eye)


@feature_kind("eyes", version=1, needs_image=lambda params: bool(params.get("patch")))
def eyes(batch: MeshBatch, params: dict) -> np.ndarray:
    """Per face: the left eye's features then the right eye's, (N, 2k), k = 2 (+3 iris, +1 visible sclera with
    ``sclera`` (its version; 0 or absent: none), +3 blendshapes, +4 brow and cheek blendshapes with ``periocular``;
    + the eye's pixels with ``patch``, first).

    ``params['combine']='mean'`` averages the two eyes instead, giving (N, k).
    """
    patches = eye_patches(batch, params["patch"]) if params.get("patch") else None
    per_eye = []
    for i, side in enumerate(("left", "right")):
        parts = [] if patches is None else [patches[i]]
        parts.append(eye_measures(batch.points, side))
        if params.get("iris"):
            parts.append(iris_measures(batch.points, side))
        if params.get("sclera"):
            parts.append(sclera_area(batch.points, side, params["sclera"])[:, None])
        if params.get("blendshapes"):
            suffix = mesh.SUBJECT_SIDE[side].capitalize()
            names = [f"{prefix}{suffix}" for prefix in mesh.EYE_BLENDSHAPE_PREFIXES]
            parts.append(batch.blendshapes[:, [mesh.BLENDSHAPE_NAMES.index(n) for n in names]])
        if params.get("periocular"):
            suffix = mesh.SUBJECT_SIDE[side].capitalize()
            names = [*(f"{prefix}{suffix}" for prefix in mesh.PERIOCULAR_BLENDSHAPE_PREFIXES),
                     *mesh.PERIOCULAR_BLENDSHAPES_BOTH_SIDES]
            parts.append(batch.blendshapes[:, [mesh.BLENDSHAPE_NAMES.index(n) for n in names]])
        per_eye.append(np.hstack(parts))
    if params.get("combine", "per_eye") == "mean":
        return (per_eye[0] + per_eye[1]) / 2
    return np.hstack(per_eye)


# Where the eyes sit in an aligned crop (aligned_crops): the face network's layout, used for the eye patches too.
EYE_X, EYE_Y = 0.3, 0.38


def patch_fits(patch: dict) -> bool:
    """Whether eye patches of this size, centred on the eyes, stay inside the crop."""
    size = patch["crop_px"]
    return patch["width_px"] <= 2 * EYE_X * size and patch["height_px"] <= 2 * EYE_Y * size


def eye_patches(batch: MeshBatch, patch: dict) -> list[np.ndarray]:
    """Per eye (the mesh's left contour, then its right): (N, height_px * width_px) gray pixels around the eye
    centre in a face crop of ``crop_px`` aligned by the eyes, the right eye's mirrored so both eyes look alike
    to one per-eye model, each patch standardised (mean 0, deviation 1: lighting and contrast do not count).

    The lids against the iris and the white above it are what the labels are about; at 48 px (FER-2013) the
    mesh alone places the lids only roughly, the pixels show them.
    """
    if not patch_fits(patch):
        raise ValueError(f"eye patches of {patch['width_px']}x{patch['height_px']} px leave a "
                         f"{patch['crop_px']} px crop")
    size, width, height = patch["crop_px"], patch["width_px"], patch["height_px"]
    crops = aligned_crops(batch, size, EYE_X, EYE_Y)
    top = int(round(EYE_Y * size - height / 2))
    out = []
    for centre_x, mirrored in ((EYE_X * size, False), ((1 - EYE_X) * size, True)):
        left = int(round(centre_x - width / 2))
        pixels = crops[:, top:top + height, left:left + width]
        pixels = (pixels[:, :, ::-1] if mirrored else pixels).reshape(len(crops), -1).astype(np.float64)
        pixels = pixels - pixels.mean(axis=1, keepdims=True)
        out.append(pixels / (pixels.std(axis=1, keepdims=True) + 1e-3))
    return out


def aligned_crops(batch: MeshBatch, size: int, eye_x: float, eye_y: float) -> np.ndarray:
    """(N, size, size) gray face crops in [0, 1], rotated and scaled by the similarity transform that puts the
    eye centres (mean of each eye contour) at (eye_x, eye_y) and (1 - eye_x, eye_y) of the crop."""
    import cv2

    target = np.array([[eye_x, eye_y], [1 - eye_x, eye_y]]) * size
    crops = np.empty((len(batch), size, size), np.float32)
    for i, (points, image) in enumerate(zip(batch.points, batch.images)):
        eyes = np.array([points[list(mesh.EYE_CONTOURS[side]), :2].mean(axis=0) for side in ("left", "right")])
        # Replicated borders: tight crops such as FER-2013's leave the frame when a tilted face is levelled.
        crop = cv2.warpAffine(np.ascontiguousarray(image), similarity(eyes, target), (size, size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        crops[i] = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return crops / 255.0


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + translation that maps two source points exactly onto two target points."""
    src, dst = source[1] - source[0], target[1] - target[0]
    ratio = complex(*dst) / complex(*src)  # rotation and scale as one complex number
    a, b = ratio.real, ratio.imag
    rotate = np.array([[a, -b], [b, a]])
    return np.hstack([rotate, (target[0] - rotate @ source[0])[:, None]])


@feature_kind("aligned_face", version=1, needs_image=True)
def aligned_face(batch: MeshBatch, params: dict) -> np.ndarray:
    """Pixels and mesh side by side, for a network with an image and a mesh branch:
    (N, size * size + mesh columns) = the flattened aligned gray crop, then the ``params['mesh']`` features."""
    size = params.get("crop_px", 48)
    crops = aligned_crops(batch, size, params.get("eye_x", EYE_X), params.get("eye_y", EYE_Y))
    return np.hstack([crops.reshape(len(batch), -1), compute_features(batch, params["mesh"])])

// Twin of meshfer/features.py for the feature kinds the bundled models use (aligned_face, aligned_mesh, mesh_nodes,
// eyes), at the same versions: a card naming another kind or version is refused, as in Python. A batch is
// {points: [Float32Array(478*3)], blendshapes: [Float32Array(52)], images: [RGB image]} (one entry per face);
// a kind returns one Float64Array row per face. Computed in float64, as Python does after its float32 inputs.
import { rgbToGray, roundHalfEven, warpAffine } from "./imageops.js";
import { mesh } from "./mesh.js";

const EPS = 1e-6;
export const EYE_X = 0.3;
export const EYE_Y = 0.38;

export const FEATURES = {}; // name -> {version, compute(batch, params) -> [Float64Array]}

function featureKind(name, version, compute) {
  FEATURES[name] = { name, version, compute };
}

export function getKind(name) {
  const kind = FEATURES[name];
  if (!kind) throw new Error(`unknown feature kind '${name}'; this page computes ${Object.keys(FEATURES).join(", ")}`);
  return kind;
}

/** compute_features: the features of params.kind for every face of the batch, cached on the batch by params. */
export function computeFeatures(batch, params) {
  const key = JSON.stringify(params, Object.keys(params).sort());
  batch.computed = batch.computed || {};
  if (!(key in batch.computed)) batch.computed[key] = getKind(params.kind).compute(batch, params);
  return batch.computed[key];
}

const get = (params, key, fallback) => (params[key] === undefined ? fallback : params[key]);
const xy = (points, i) => [points[3 * i], points[3 * i + 1]];
const norm = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** centred_scaled: centroid to 0, RMS radius to 1; ``dims`` coordinates per landmark. */
function centredScaled(points, dims) {
  const n = mesh.N_LANDMARKS;
  const out = new Float64Array(n * dims);
  const mean = new Float64Array(dims);
  for (let i = 0; i < n; i++) for (let k = 0; k < dims; k++) mean[k] += points[3 * i + k];
  for (let k = 0; k < dims; k++) mean[k] /= n;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < dims; k++) {
      const v = points[3 * i + k] - mean[k];
      out[i * dims + k] = v;
      squares += v * v;
    }
  }
  const radius = Math.max(Math.sqrt(squares / n), EPS);
  for (let i = 0; i < out.length; i++) out[i] /= radius;
  return out;
}

/** level_eyes: rotate in the image plane so the outer eye corners lie on a horizontal line. */
function levelEyes(points) {
  const [lx, ly] = xy(points, mesh.EYE_CORNERS.left[0]);
  const [rx, ry] = xy(points, mesh.EYE_CORNERS.right[1]);
  const angle = Math.atan2(ry - ly, rx - lx);
  const cos = Math.cos(-angle);
  const sin = Math.sin(-angle);
  const out = Float64Array.from(points);
  for (let i = 0; i < points.length; i += 3) {
    out[i] = cos * points[i] - sin * points[i + 1];
    out[i + 1] = sin * points[i] + cos * points[i + 1];
  }
  return out;
}

function meshNodesOf(points, params) {
  return centredScaled(params.level_eyes ? levelEyes(points) : points, get(params, "dims", 2));
}

featureKind("mesh_nodes", 1, (batch, params) => batch.points.map((p) => meshNodesOf(p, params)));

featureKind("aligned_mesh", 1, (batch, params) => batch.points.map((points, n) => {
  const coords = meshNodesOf(points, { dims: get(params, "dims", 2), level_eyes: true });
  if (!get(params, "append_blendshapes", true)) return coords;
  return concat([coords, batch.blendshapes[n]]);
}));

function concat(parts) {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

/** eye_measures: eye area / width^2 (shoelace) and width / height of one eye contour. */
function eyeMeasures(points, side) {
  const contour = mesh.EYE_CONTOURS[side];
  let twice = 0;
  contour.forEach((i, k) => {
    const [x0, y0] = xy(points, i);
    const [x1, y1] = xy(points, contour[(k + 1) % contour.length]);
    twice += x0 * y1 - x1 * y0;
  });
  const [c0, c1] = mesh.EYE_CORNERS[side];
  const [top, bottom] = mesh.EYE_LID_MIDPOINTS[side];
  const width = Math.max(norm(xy(points, c0), xy(points, c1)), EPS);
  const height = norm(xy(points, top), xy(points, bottom));
  return [0.5 * Math.abs(twice) / width ** 2, width / Math.max(height, width * 1e-3)];
}

/** iris_measures: eye height, upper and lower lid gaps across the eye axis, in iris radii. */
function irisMeasures(points, side) {
  const [c0, c1] = mesh.EYE_CORNERS[side].map((i) => xy(points, i));
  const length = Math.max(norm(c1, c0), EPS);
  const axis = [(c1[0] - c0[0]) / length, (c1[1] - c0[1]) / length];
  const normal = [-axis[1], axis[0]];
  const [centre, ring] = mesh.IRIS[side];
  const at = (i) => xy(points, i);
  const radius = Math.max((norm(at(ring[0]), at(ring[2])) + norm(at(ring[1]), at(ring[3]))) / 4, EPS);
  const across = (i) => (at(i)[0] - at(centre)[0]) * normal[0] + (at(i)[1] - at(centre)[1]) * normal[1];
  const [top, bottom] = mesh.EYE_LID_MIDPOINTS[side];
  const upper = Math.abs(across(top));
  const lower = Math.abs(across(bottom));
  return [(upper + lower) / radius, upper / radius, lower / radius];
}

const capitalised = (s) => s[0].toUpperCase() + s.slice(1);

function blendshapeValues(scores, names) {
  return names.map((name) => scores[mesh.BLENDSHAPE_NAMES.indexOf(name)]);
}

featureKind("eyes", 1, (batch, params) => {
  const patches = params.patch ? eyePatches(batch, params.patch) : null;
  return batch.points.map((points, n) => {
    const perEye = ["left", "right"].map((side, i) => {
      const parts = patches ? [patches[i][n]] : [];
      parts.push(eyeMeasures(points, side));
      if (params.iris) parts.push(irisMeasures(points, side));
      const suffix = capitalised(mesh.SUBJECT_SIDE[side]);
      if (params.blendshapes) {
        parts.push(blendshapeValues(batch.blendshapes[n], mesh.EYE_BLENDSHAPE_PREFIXES.map((p) => p + suffix)));
      }
      if (params.periocular) {
        parts.push(blendshapeValues(batch.blendshapes[n], [
          ...mesh.PERIOCULAR_BLENDSHAPE_PREFIXES.map((p) => p + suffix), ...mesh.PERIOCULAR_BLENDSHAPES_BOTH_SIDES]));
      }
      return concat(parts);
    });
    if (get(params, "combine", "per_eye") === "mean") return perEye[0].map((v, k) => (v + perEye[1][k]) / 2);
    return concat(perEye);
  });
});

export function patchFits(patch) {
  const size = patch.crop_px;
  return patch.width_px <= 2 * EYE_X * size && patch.height_px <= 2 * EYE_Y * size;
}

/** eye_patches: per eye, per face, the standardised gray pixels around the eye in an aligned crop (the second eye
 * mirrored). */
function eyePatches(batch, patch) {
  if (!patchFits(patch)) {
    throw new Error(`eye patches of ${patch.width_px}x${patch.height_px} px leave a ${patch.crop_px} px crop`);
  }
  const { crop_px: size, width_px: width, height_px: height } = patch;
  const crops = alignedCrops(batch, size, EYE_X, EYE_Y);
  const top = roundHalfEven(EYE_Y * size - height / 2);
  return [[EYE_X * size, false], [(1 - EYE_X) * size, true]].map(([centreX, mirrored]) => {
    const left = roundHalfEven(centreX - width / 2);
    return crops.map((crop) => {
      const pixels = new Float64Array(width * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const source = mirrored ? width - 1 - x : x;
          pixels[y * width + x] = crop[(top + y) * size + left + source];
        }
      }
      const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
      const deviation = Math.sqrt(pixels.reduce((s, v) => s + (v - mean) ** 2, 0) / pixels.length);
      return pixels.map((v) => (v - mean) / (deviation + 1e-3));
    });
  });
}

/** similarity: the rotation + uniform scale + translation mapping two source points onto two target points, as a
 * row-major 2x3 matrix. */
export function similarity(source, target) {
  const [sx, sy] = [source[1][0] - source[0][0], source[1][1] - source[0][1]];
  const [dx, dy] = [target[1][0] - target[0][0], target[1][1] - target[0][1]];
  const denominator = sx * sx + sy * sy;
  const a = (dx * sx + dy * sy) / denominator; // dst / src as complex numbers
  const b = (dy * sx - dx * sy) / denominator;
  const tx = target[0][0] - (a * source[0][0] - b * source[0][1]);
  const ty = target[0][1] - (b * source[0][0] + a * source[0][1]);
  return [a, -b, tx, b, a, ty];
}

function eyeCentre(points, side) {
  const contour = mesh.EYE_CONTOURS[side];
  let x = 0;
  let y = 0;
  for (const i of contour) { x = Math.fround(x + points[3 * i]); y = Math.fround(y + points[3 * i + 1]); }
  return [Math.fround(x / contour.length), Math.fround(y / contour.length)];
}

/** aligned_crops: per face, a size x size gray crop in [0, 1] (Float32Array) with the eye centres at (eye_x, eye_y)
 * and (1 - eye_x, eye_y). */
export function alignedCrops(batch, size, eyeX, eyeY) {
  const target = [[eyeX * size, eyeY * size], [(1 - eyeX) * size, eyeY * size]];
  return batch.points.map((points, n) => {
    const eyes = [eyeCentre(points, "left"), eyeCentre(points, "right")];
    const gray = rgbToGray(warpAffine(batch.images[n], similarity(eyes, target), size, size));
    return Float32Array.from(gray.data, (v) => v / 255);
  });
}

featureKind("aligned_face", 1, (batch, params) => {
  const size = get(params, "crop_px", 48);
  const crops = alignedCrops(batch, size, get(params, "eye_x", EYE_X), get(params, "eye_y", EYE_Y));
  const meshPart = computeFeatures(batch, params.mesh);
  return crops.map((crop, n) => concat([crop, meshPart[n]]));
});

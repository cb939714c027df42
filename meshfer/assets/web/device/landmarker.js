// Twin of meshfer/landmarker.py: the MediaPipe FaceLandmarker pass (tasks-vision's wasm build, IMAGE mode) with the
// same image preparation, strict and lenient passes, retries and face filtering, so a face gets the mesh its model
// was trained on. Points are in the input image's pixels (z on the x scale), in float32 steps as in Python.
import { FaceLandmarker } from "../vendor/tasks-vision/vision_bundle.mjs";
import { copyMakeBorder, gaussianBlur, resizeArea, resizeCubic, roundHalfEven, toImageData } from "./imageops.js";
import { mesh } from "./mesh.js";

const f32 = Math.fround;

/** DetectConfig.from_params: the detection settings on a model card (data.detect_config), with Python's defaults. */
export function detectConfig(params = {}, numFaces = 4) {
  const config = {
    num_faces: numFaces, min_detection_confidence: 0.5, fallback_detection_confidence: 0.1,
    min_presence_confidence: 0.1, pad_fraction: 0.25, pad_mode: "constant", min_side: 256, max_side: 1920,
    retry_pad_fractions: [], retry_pad_modes: [], denoise_sigma: 0.0,
  };
  for (const key of Object.keys(config)) if (params[key] != null && key !== "num_faces") config[key] = params[key];
  return config;
}

/** DetectConfig.attempts: (pad fraction, pad mode) of the first attempt, then of each retry. */
export function attempts(config) {
  const retries = config.retry_pad_fractions.map((fraction, i) => [fraction,
    config.retry_pad_modes.length ? config.retry_pad_modes[i] : config.pad_mode]);
  return [[config.pad_fraction, config.pad_mode], ...retries].filter(([, mode]) => mode !== undefined);
}

/** prepare_image: pad, then scale so the shorter side is at least min_side and the longer at most max_side.
 * Returns [prepared, offset, scale]: input = (prepared - offset) / scale. */
export function prepareImage(rgb, padFraction, padMode, minSide, maxSide = 1920, padLarge = true) {
  const { width: w, height: h } = rgb;
  const pad = padLarge || Math.min(h, w) < minSide ? roundHalfEven(padFraction * Math.min(h, w)) : 0;
  let scale = Math.max(1.0, minSide / (Math.min(h, w) + 2 * pad));
  scale = Math.min(scale, maxSide / (Math.max(h, w) + 2 * pad));
  if (scale < 1.0) {
    let small = resizeArea(rgb, Math.max(1, roundHalfEven(w * scale)), Math.max(1, roundHalfEven(h * scale)));
    const offset = roundHalfEven(pad * scale);
    if (offset) small = copyMakeBorder(small, offset, padMode);
    return [small, offset, scale];
  }
  let out = pad > 0 ? copyMakeBorder(rgb, pad, padMode) : rgb;
  if (scale > 1.0) out = resizeCubic(out, roundHalfEven(out.width * scale), roundHalfEven(out.height * scale));
  return [out, pad * scale, scale];
}

export function bbox(points) {
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
  for (let i = 0; i < points.length; i += 3) {
    x0 = Math.min(x0, points[i]); x1 = Math.max(x1, points[i]);
    y0 = Math.min(y0, points[i + 1]); y1 = Math.max(y1, points[i + 1]);
  }
  return [x0, y0, x1, y1];
}

const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);

function overlap(a, b) {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  return (width * height) / Math.max(Math.min(area(a), area(b)), 1e-9);
}

/** plausible_faces: drop a face mostly inside a kept one, or under a tenth of the first face's size. */
export function plausibleFaces(faces, maxOverlap = 0.5, minRelativeArea = 0.1) {
  const kept = [];
  for (const face of faces) {
    if (kept.length && area(face.bbox) < minRelativeArea * area(kept[0].bbox)) continue;
    if (kept.every((other) => overlap(face.bbox, other.bbox) <= maxOverlap)) kept.push(face);
  }
  return kept;
}

/** _meshes: MediaPipe's normalised landmarks -> faces with points in the input image's pixels. */
export function meshes(result, width, height, offset, scale) {
  const faces = [];
  const [w, ratio, off, s] = [f32(width), f32(height / width), f32(offset), f32(scale)];
  result.faceLandmarks.forEach((landmarks, n) => {
    const points = new Float32Array(mesh.N_LANDMARKS * 3);
    landmarks.forEach((p, i) => {
      points[3 * i] = f32(f32(f32(p.x) * w) - off) / s;
      points[3 * i + 1] = f32(f32(f32(f32(p.y) * w) * ratio) - off) / s;
      points[3 * i + 2] = f32(f32(p.z) * w) / s;
    });
    const blendshapes = Float32Array.from(result.faceBlendshapes[n].categories, (c) => c.score);
    faces.push({ points, blendshapes, bbox: bbox(points) });
  });
  return faces;
}

function hasWebGL() {
  const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(1, 1) : document.createElement("canvas");
  return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
}

export class Landmarker {
  /** The strict task (up to num_faces at the usual confidence) now; the lenient one (one face, low confidence) on
   * first need, as in Python. ``fileset``: tasks-vision's {wasmLoaderPath, wasmBinaryPath}; ``model``: the bytes of
   * face_landmarker.task. */
  static async create(fileset, model, config) {
    if (!hasWebGL()) {
      throw new Error("this browser offers no WebGL here, which MediaPipe's wasm build needs to read images even on " +
        "the CPU (headless Firefox, for one); run on the server instead");
    }
    const self = new Landmarker();
    Object.assign(self, { fileset, model, config, lenientTask: null });
    self.strict = await self.task(config.num_faces, config.min_detection_confidence);
    return self;
  }

  task(numFaces, confidence) {
    return FaceLandmarker.createFromOptions(this.fileset, {
      baseOptions: { modelAssetBuffer: new Uint8Array(this.model), delegate: "CPU" },
      runningMode: "IMAGE", numFaces, minFaceDetectionConfidence: confidence,
      minFacePresenceConfidence: this.config.min_presence_confidence,
      outputFaceBlendshapes: true, outputFacialTransformationMatrixes: false,
    });
  }

  async lenient() {
    if (!this.lenientTask) this.lenientTask = await this.task(1, this.config.fallback_detection_confidence);
    return this.lenientTask;
  }

  close() {
    for (const task of [this.strict, this.lenientTask]) if (task) task.close();
    this.strict = this.lenientTask = null;
  }

  /** All faces in an RGB image (imageops' layout), most confident first; [] when there is none. */
  async detect(rgb) {
    const tries = attempts(this.config);
    for (let attempt = 0; attempt < tries.length; attempt++) {
      const [padFraction, padMode] = tries[attempt];
      const passes = attempt === 0 ? [this.strict, null] : [null];
      const faces = await this.firstFound(rgb, padFraction, padMode, passes, attempt > 0);
      if (faces.length) return faces;
    }
    if (this.config.denoise_sigma > 0) {
      const blurred = gaussianBlur(rgb, this.config.denoise_sigma);
      return this.firstFound(blurred, this.config.pad_fraction, this.config.pad_mode, [null], true);
    }
    return [];
  }

  async firstFound(rgb, padFraction, padMode, passes, padLarge) {
    const [prepared, offset, scale] = prepareImage(rgb, padFraction, padMode, this.config.min_side,
      this.config.max_side, padLarge);
    const pixels = prepared.imageData || toImageData(prepared);
    for (const pass of passes) {
      const task = pass || await this.lenient();
      const faces = plausibleFaces(meshes(task.detect(pixels), prepared.width, prepared.height, offset, scale));
      if (faces.length) return faces;
    }
    return [];
  }
}

// Twin of meshfer/recognizer.py (the one-image path): landmarker -> the approach's features and model -> the eye
// model -> one record per face with the API's fields (what `POST /v1/predict` answers in "faces").
import { fromImageData } from "./imageops.js";
import { Landmarker, detectConfig } from "./landmarker.js";
import { mesh, useTables } from "./mesh.js";
import { configure, fetchBytes, fetchJson, loadExpressionModel, loadModel } from "./runtime.js";

export const EYES_APPROACH = "eyes";
export const LANDMARKER_FILE = "face_landmarker.task";
export const MODELS_INDEX = "index.json"; // written by meshfer.device_site: approaches, labels, metrics, mesh tables

/** Where device mode finds its files, relative to the page: the models, the .task file and the vendored runtimes. */
export function siteUrls(pageUrl) {
  const device = new URL("device/", pageUrl);
  return { device, models: new URL("models/", device), vendor: new URL("static/vendor/", pageUrl) };
}

/** labels.EYE_OPENNESS: each eye state's openness, 0 closed .. 1 wide, for states ordered wide .. closed. */
export function eyeOpenness(states) {
  return states.map((_, i) => 1 - i / (states.length - 1));
}

export class Recognizer {
  /** ``approach``: an expression approach of the models index (null: its default); ``eyes``: rate the eyes too. */
  static async create(pageUrl, { approach = null, eyes = true, numFaces = 4 } = {}) {
    const urls = siteUrls(pageUrl);
    configure(urls.vendor);
    const index = await fetchJson(new URL(MODELS_INDEX, urls.models));
    useTables(index.mesh);
    const chosen = approach || index.default;
    if (!index.approaches.some((a) => a.name === chosen)) {
      throw new Error(`unknown approach '${chosen}'; this site has ${index.approaches.map((a) => a.name).join(", ")}`);
    }
    const self = new Recognizer();
    self.index = index;
    self.approach = chosen;
    self.expression = await loadExpressionModel(urls.models, chosen);
    self.eyeModel = eyes ? await loadModel(new URL(`${EYES_APPROACH}/`, urls.models)) : null;
    const fileset = {
      wasmLoaderPath: new URL("tasks-vision/vision_wasm_internal.js", urls.vendor).href,
      wasmBinaryPath: new URL("tasks-vision/vision_wasm_internal.wasm", urls.vendor).href,
    };
    const model = await fetchBytes(new URL(LANDMARKER_FILE, urls.device));
    self.landmarker = await Landmarker.create(fileset, model, detectConfig(self.expression.detectConfig, numFaces));
    self.urls = urls;
    return self;
  }

  /** This recognizer with another expression approach, sharing the landmarker and the eye model. */
  async variant(approach) {
    if (approach === this.approach) return this;
    const other = Object.create(Recognizer.prototype);
    Object.assign(other, this, { approach, expression: await loadExpressionModel(this.urls.models, approach) });
    if (JSON.stringify(other.expression.detectConfig) !== JSON.stringify(this.expression.detectConfig)) {
      throw new Error(`approach '${approach}' detects faces differently from '${this.approach}'`);
    }
    return other;
  }

  close() {
    this.landmarker.close();
  }

  /** An RGBA ImageData (a canvas's pixels) -> {width, height, faces: [record], ms}; ms: landmarks + models. */
  async analyse(imageData) {
    const started = performance.now();
    const rgb = fromImageData(imageData);
    rgb.imageData = imageData; // MediaPipe reads it as it is when no padding or scaling is needed
    const faces = await this.landmarker.detect(rgb);
    const records = faces.length ? await this.records(faces, rgb) : [];
    return { width: rgb.width, height: rgb.height, faces: records, ms: performance.now() - started };
  }

  async records(faces, rgb) {
    const batch = { points: faces.map((f) => f.points), blendshapes: faces.map((f) => f.blendshapes),
      images: faces.map(() => rgb) };
    const expressions = this.index.expressions;
    const proba = await this.expression.predictProba(batch);
    const eyes = this.eyeModel ? await this.eyes(batch) : null;
    const states = this.index.eye_states;
    const openness = eyeOpenness(states);
    return faces.map((face, i) => {
      const p = Array.from(proba.subarray(i * expressions.length, (i + 1) * expressions.length));
      const best = p.indexOf(Math.max(...p));
      const record = { face: i, x_min: face.bbox[0], y_min: face.bbox[1], x_max: face.bbox[2], y_max: face.bbox[3],
        expression: expressions[best], expression_score: p[best] };
      expressions.forEach((name, k) => { record[`p_${name}`] = p[k]; });
      if (eyes) {
        const per = ["left", "right"].map((_, k) => eyes[i][k]);
        per.forEach((q, k) => { record[`${["left", "right"][k]}_eye`] = states[q.indexOf(Math.max(...q))]; });
        per.forEach((q, k) => {
          record[`${["left", "right"][k]}_eye_openness`] = q.reduce((s, v, j) => s + v * openness[j], 0);
        });
      }
      return record;
    });
  }

  /** Per face, [subject's left eye probabilities, right eye's]: the model rates the mesh's left eye contour first. */
  async eyes(batch) {
    const { data, dims } = await this.eyeModel.predictProba(batch);
    const labels = dims[2];
    const contourOf = Object.fromEntries(Object.entries(mesh.SUBJECT_SIDE).map(([contour, subject]) => [subject,
      contour]));
    return batch.points.map((_, i) => ["left", "right"].map((side) => {
      const k = ["left", "right"].indexOf(contourOf[side]);
      return Array.from(data.subarray((i * 2 + k) * labels, (i * 2 + k + 1) * labels));
    }));
  }
}

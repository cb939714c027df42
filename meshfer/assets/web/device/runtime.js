// Twin of meshfer/runtime.py: a model directory (card.json + model.onnx) run by onnxruntime-web's plain wasm build,
// one thread (as Python's sessions: a batch of one face gains nothing from more). Cards are checked as in Python:
// the feature kind and version this page computes, and the file's SHA-256 (where the browser offers SubtleCrypto:
// https or localhost).
import * as ort from "../vendor/onnxruntime-web/ort.wasm.min.mjs";
import { computeFeatures, getKind } from "./features.js";

export const CARD_FILE = "card.json";
export const ONNX_FILE = "model.onnx";
const INPUT_NAME = "features";
const OUTPUT_NAME = "probabilities";

export class ModelLoadError extends Error {
  constructor(message, status) { super(message); this.status = status; } // status: HTTP's, 0 unreachable
}

/** Point onnxruntime-web at the vendored wasm files (nothing is fetched from elsewhere). */
export function configure(vendorUrl) {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = {
    mjs: new URL("onnxruntime-web/ort-wasm-simd-threaded.mjs", vendorUrl).href,
    wasm: new URL("onnxruntime-web/ort-wasm-simd-threaded.wasm", vendorUrl).href,
  };
}

export async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new ModelLoadError(`${url} could not be fetched (${err.message})`, 0);
  }
  if (!response.ok) throw new ModelLoadError(`${url}: HTTP ${response.status}`, response.status);
  return response.arrayBuffer();
}

export async function fetchJson(url) {
  const bytes = await fetchBytes(url);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ModelLoadError(`${url} is not JSON (${err.message})`);
  }
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** _session: an onnxruntime-web session for a model file whose SHA-256 matches its card. */
export async function session(url, sha256) {
  const bytes = await fetchBytes(url);
  if (sha256 && globalThis.crypto && crypto.subtle && await sha256Hex(bytes) !== sha256) {
    throw new ModelLoadError(`${url} does not match the SHA-256 on its card: the file is damaged or was replaced`);
  }
  let made;
  try {
    made = await ort.InferenceSession.create(new Uint8Array(bytes), {
      executionProviders: ["wasm"], graphOptimizationLevel: "all", executionMode: "sequential",
    });
  } catch (err) {
    throw new ModelLoadError(`${url} could not be loaded (${err.message})`);
  }
  if (!made.inputNames.includes(INPUT_NAME) || !made.outputNames.includes(OUTPUT_NAME)) {
    throw new ModelLoadError(`${url} has inputs ${made.inputNames} and outputs ${made.outputNames}, not ` +
      `'${INPUT_NAME}' -> '${OUTPUT_NAME}'`);
  }
  return made;
}

/** Feature rows (one array per face) -> {data: Float32Array, dims} of the model's probabilities. */
export async function run(sessionOf, rows) {
  const width = rows[0].length;
  const input = new Float32Array(rows.length * width);
  rows.forEach((row, i) => input.set(row, i * width)); // float64 -> float32, as Python's cast
  const output = await sessionOf.run({ [INPUT_NAME]: new ort.Tensor("float32", input, [rows.length, width]) });
  const tensor = output[OUTPUT_NAME];
  return { data: Float32Array.from(tensor.data), dims: tensor.dims.map(Number) };
}

/** One exported model: its card and session. */
export class InferenceModel {
  constructor(card, sessionOf) {
    this.card = card;
    this.session = sessionOf;
  }

  predictProba(batch) {
    return run(this.session, computeFeatures(batch, this.card.feature_params));
  }
}

/** load_model: a model directory, refusing what this page cannot compute correctly. */
export async function loadModel(directoryUrl) {
  const card = await fetchJson(new URL(CARD_FILE, directoryUrl));
  const kind = getKind(card.feature_kind);
  if (kind.version !== card.feature_version) {
    throw new ModelLoadError(`${directoryUrl}: model was trained on feature '${card.feature_kind}' version ` +
      `${card.feature_version}, this page computes version ${kind.version}`);
  }
  if (card.format !== ONNX_FILE) throw new ModelLoadError(`${directoryUrl}: no ${ONNX_FILE} (format ${card.format})`);
  return new InferenceModel(card, await session(new URL(ONNX_FILE, directoryUrl), card.file_sha256));
}

/** ExpressionModel: one model, or an ensemble's members averaged or fed to its combiner. */
export class ExpressionModel {
  constructor(approach, members, combiner = null) {
    Object.assign(this, { approach, members, combiner });
  }

  get detectConfig() {
    return (this.members[0].card.data || {}).detect_config || {};
  }

  /** The approach's probabilities, (faces x labels) row-major. */
  async predictProba(batch) {
    const probas = [];
    for (const member of this.members) probas.push(await member.predictProba(batch));
    if (probas.length === 1) return probas[0].data;
    const [faces, labels] = probas[0].dims;
    if (this.combiner) {
      const rows = Array.from({ length: faces }, (_, i) => Float32Array.from(
        probas.flatMap((p) => Array.from(p.data.subarray(i * labels, (i + 1) * labels)))));
      return (await run(this.combiner, rows)).data;
    }
    const mean = new Float32Array(faces * labels);
    for (const p of probas) p.data.forEach((v, i) => { mean[i] += v / probas.length; });
    return mean;
  }
}

/** load_expression_model: an approach's folder under modelsUrl (an ensemble loads its members). */
export async function loadExpressionModel(modelsUrl, approach) {
  const directory = new URL(`${approach}/`, modelsUrl);
  const card = await fetchJson(new URL(CARD_FILE, directory));
  if (!card.members) return new ExpressionModel(approach, [await loadModel(directory)]);
  const members = [];
  for (const name of card.members) members.push(await loadModel(new URL(`${name}/`, modelsUrl)));
  const combiner = card.combiner === "mean" ? null : await session(new URL(card.combiner, directory), card.file_sha256);
  return new ExpressionModel(approach, members, combiner);
}
